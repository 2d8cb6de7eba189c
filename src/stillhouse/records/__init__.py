"""bedrock-conversation-2024 records: the typed model, streaming JSONL I/O and validation."""

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
    "S3Location",
    "SystemBlock",
    "Turn",
    "from_messages",
    "to_messages",
]
