"""Template files → bytes: a .docx through docxtpl (Jinja inside Word), an .html page through
Jinja then WeasyPrint (HTML and CSS → PDF, with Pango laying out Chinese text).

WeasyPrint reads nothing from the network and no file outside the documents folder: images
and stylesheets a template names are looked up there only. Every page gets a default
stylesheet (A4, margins, page numbers, a font list that finds a Chinese font wherever one
is installed), which the template's own CSS overrides.
"""

from __future__ import annotations

import io
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import TemplateError

from lowrise.errors import LowriseError
from lowrise.i18n import msg

from .context import DocumentEnvironment

#: Chinese fonts first (WenQuanYi on Debian, Noto / Source Han elsewhere, the Windows and
#: macOS ones for a template opened there), then the generic families
CJK_FONTS = ('"WenQuanYi Zen Hei", "Noto Sans CJK SC", "Source Han Sans SC", '
             '"Microsoft YaHei", "PingFang SC", "SimSun", "Noto Sans", "DejaVu Sans", '
             "sans-serif")
DEFAULT_CSS = f"""
@page {{ size: A4; margin: 22mm 20mm 20mm;
  @bottom-center {{ content: counter(page) " / " counter(pages); font-size: 9pt; }} }}
html {{ font-family: {CJK_FONTS}; font-size: 11pt; line-height: 1.6; }}
table {{ border-collapse: collapse; }}
tr, img {{ break-inside: avoid; }}
thead {{ display: table-header-group; }}
"""


class DocumentError(LowriseError):
    """A document cannot be made: its template is missing or broken, or it is refused."""


def render_docx(path: Path, data: dict[str, Any], env: DocumentEnvironment) -> bytes:
    """The .docx template at `path` filled with `data`."""
    from docxtpl import DocxTemplate

    try:
        tpl = DocxTemplate(str(path))
        tpl.render(data, jinja_env=env, autoescape=True)
    except TemplateError as exc:
        raise _broken(path, exc) from None
    out = io.BytesIO()
    tpl.save(out)
    return out.getvalue()


def render_html(path: Path, data: dict[str, Any], env: DocumentEnvironment) -> str:
    """The .html template at `path` filled with `data`."""
    try:
        return env.from_string(path.read_text(encoding="utf-8")).render(data)
    except TemplateError as exc:
        raise _broken(path, exc) from None


def render_text(text: str, data: dict[str, Any], env: DocumentEnvironment) -> str:
    """A one-line template (a file name) filled with `data`, without HTML escaping."""
    try:
        return env.from_string(text).render(data).strip()
    except TemplateError as exc:
        raise DocumentError(msg("the file name '%(text)s' cannot be filled in: %(problem)s",
                                text=text, problem=str(exc))) from None


def _broken(path: Path, exc: TemplateError) -> DocumentError:
    return DocumentError(msg("the template %(file)s cannot be filled in: %(problem)s",
                             file=path.name, problem=str(exc)))


def html_to_pdf(html: str, folder: Path) -> bytes:
    """The HTML page as a PDF; images and stylesheets come from `folder` only."""
    from weasyprint import CSS, HTML  # imported here: a second to load, used only here

    fetcher = _folder_fetcher(folder)
    base = folder.resolve().as_uri() + "/"
    return HTML(string=html, base_url=base, url_fetcher=fetcher).write_pdf(
        stylesheets=[CSS(string=DEFAULT_CSS, url_fetcher=fetcher)])


def _folder_fetcher(folder: Path):
    """A WeasyPrint URL fetcher that serves the files of one folder and data: URLs only."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    root = folder.resolve()

    class FolderFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            if parts.scheme == "data":
                return super().fetch(url, headers)
            path = Path(unquote(parts.path)).resolve() if parts.scheme == "file" else None
            if path is None or not path.is_relative_to(root) or not path.is_file():
                raise ValueError(f"{url}: a document reads only files of its documents folder")
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": ctype})

    return FolderFetcher(allowed_protocols=("file", "data"))
