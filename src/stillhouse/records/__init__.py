"""bedrock-conversation-2024 records: the typed model, the pure line parser and rules, validation.

Nothing here reads a source: :func:`stillhouse.sources.dataset.read_dataset` is the one reader.
"""

from stillhouse.records.jsonl import write_records
from stillhouse.records.rules import RecordProblem
from stillhouse.records.schema import (
    SCHEMA_VERSION,
    ContentBlock,
    ConversationRecord,
    ImageBlock,
    ImageSource,
    S3Location,
    SystemBlock,
    Turn,
    from_messages,
    to_messages,
)

__all__ = [
    "SCHEMA_VERSION",
    "ContentBlock",
    "ConversationRecord",
    "ImageBlock",
    "ImageSource",
    "RecordProblem",
    "S3Location",
    "SystemBlock",
    "Turn",
    "from_messages",
    "to_messages",
    "write_records",
]
