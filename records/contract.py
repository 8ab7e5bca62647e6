"""What the models of Footage's JSON contracts share (the gap document, the disclosure receipt,
the fixity report, written explanations, case closings): the documents are models end to end, and
their JSON stays what readers of the contracts have always read (docs/cli.md), byte for byte.

Two habits of the dictionaries they replace are kept on purpose:

* :data:`IsoTime`: a time written as ``datetime.isoformat()`` (``+00:00``, ``+08:00``), as those
  documents always had it, not as pydantic writes UTC by default (``Z``). Times that the
  documents took from :class:`media.model.Event` stay plain ``datetime`` fields, written as
  pydantic writes them, as they always were.
* :attr:`Contract.OPTIONAL`: keys a document carries only where they apply (a receipt's
  ``qa`` once QA ran, a gap row's ``explanation`` where the finding can be explained) are written
  only when they were set, given or read, even to null; the other fields are always written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, PlainSerializer, model_serializer

#: a timezone-aware time written as ``isoformat()`` in JSON ("2026-11-20T09:00:00+08:00")
IsoTime = Annotated[datetime, PlainSerializer(lambda t: t.isoformat(), return_type=str, when_used="json")]


class Contract(BaseModel):
    """A document of a JSON contract. :meth:`to_json_dict` is its JSON form."""

    #: fields written only when set (at construction, by assignment, or read from JSON)
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _written(self, handler) -> dict[str, Any]:
        body = handler(self)
        for name in self.OPTIONAL - self.model_fields_set:
            body.pop(name, None)
        return self._arrange(body)

    def _arrange(self, body: dict[str, Any]) -> dict[str, Any]:
        """The order of the written keys (a subclass whose contract orders them otherwise)."""
        return body

    def to_json_dict(self) -> dict[str, Any]:
        """The document as JSON data, keys in the contract's order."""
        return self.model_dump(mode="json")
