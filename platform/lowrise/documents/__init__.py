"""Documents from templates: a record filled into a DOCX (docxtpl) or an HTML page made a PDF
(WeasyPrint), stored on the record as an attachment, with who generated it in its history.

The workspace declares each document in documents/<name>.yaml (see docs/documents.md);
`generate` makes one, `offers` lists what a person may make on a record, and
`template_problems` is the part of `lowrise check` that reads the template files.
"""

from __future__ import annotations

from .checks import template_problems
from .generate import AUDIT_ACTION, DocumentRefused, Generated, Offer, generate, offers
from .render import DocumentError

__all__ = ["AUDIT_ACTION", "DocumentError", "DocumentRefused", "Generated", "Offer",
           "generate", "offers", "template_problems"]
