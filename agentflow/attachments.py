"""Images and PDFs in a user message: checked before they enter the conversation.

`attachment` makes a block from bytes; `check_attachments` is the one rule every
path applies (the loop, before a message is accepted; a Temporal update's validator, before it
enters history): a known media type, base64 that decodes, bytes that look like the type they
claim, and a size and count within the run's [`Limits`][agentflow.Limits]. The audit trail
records an attachment's type, size and digest, never its bytes; redaction applies to text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, cast, get_args

from agentflow.exceptions import InvalidInput
from agentflow.messages import Attachment, DocumentBlock, ImageBlock, ImageMediaType

if TYPE_CHECKING:
    from agentflow.loop import Limits

__all__ = ["attachment", "attachment_bytes", "check_attachments", "digest"]

_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}


def attachment(data: bytes, media_type: str, *, title: str = "") -> Attachment:
    """A block for ``data``: an image (JPEG, PNG, GIF, WebP) or a PDF.

    Raises:
        InvalidInput: Another media type, or bytes that are not what it says.
    """
    encoded = base64.b64encode(data).decode("ascii")
    if media_type == "application/pdf":
        block: Attachment = DocumentBlock(data=encoded, title=title)
    elif media_type in get_args(ImageMediaType):
        block = ImageBlock(media_type=cast(ImageMediaType, media_type), data=encoded)
    else:
        raise InvalidInput(f"attachments of type {media_type!r} are not supported")
    _check_one(block, len(data))
    return block


def attachment_bytes(block: Attachment) -> bytes:
    """The decoded bytes; [`InvalidInput`][agentflow.InvalidInput] when ``data`` is not base64."""
    try:
        return base64.b64decode(block.data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"an {block.type} attachment is not valid base64") from None


def digest(block: Attachment) -> str:
    """The SHA-256 of the attachment's base64 text: what the audit trail keeps."""
    return hashlib.sha256(block.data.encode("ascii", "replace")).hexdigest()


def check_attachments(attachments: Sequence[Attachment], limits: Limits) -> None:
    """Refuse attachments that may not enter the conversation (see the module docstring)."""
    if len(attachments) > limits.max_attachments:
        raise InvalidInput(
            f"the message has {len(attachments)} attachments; the limit is {limits.max_attachments}"
        )
    for block in attachments:
        # Checked on the encoded size first: a huge input is refused before it is decoded.
        if len(block.data) * 3 // 4 > limits.max_attachment_bytes:
            raise InvalidInput(f"an attachment is over {limits.max_attachment_bytes} bytes")
        _check_one(block, None)


def _check_one(block: Attachment, size: int | None) -> None:
    kind: Literal["image", "document"] = block.type
    raw = attachment_bytes(block) if size is None else base64.b64decode(block.data)
    if not raw:
        raise InvalidInput(f"an {kind} attachment is empty")
    if not raw.startswith(_MAGIC[block.media_type]):
        raise InvalidInput(f"an {kind} attachment is not the {block.media_type} it claims to be")
