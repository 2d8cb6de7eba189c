"""bedrock-conversation-2024 records: the typed model, streaming JSONL I/O and validation.

Validation lives in :mod:`stillhouse.records.validate` (not re-exported: it reads sources, which
import this package).
"""

from stillhouse.records.jsonl import read_records, write_records
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
    "read_records",
    "to_messages",
    "write_records",
]
