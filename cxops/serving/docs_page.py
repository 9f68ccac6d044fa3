"""The model server's /docs page (Swagger UI) with every file it loads served by the server itself.

FastAPI's default page loads Swagger UI's script and stylesheet from a CDN, so it is blank offline or behind a
firewall (a research cloud's private network, the lab without internet). Here the page points at
`<docs_url>/assets/…`, served from the pinned `swagger-ui-bundle-v2` package (Swagger UI's own dist files), and
the online spec validator badge is off, so the page asks no other host for anything.
"""

from __future__ import annotations

from typing import Any

ASSETS = "assets"
SCRIPT = "swagger-ui-bundle.js"
STYLESHEET = "swagger-ui.css"
FAVICON = "favicon-32x32.png"


def add_docs(app: Any, docs_url: str, openapi_url: str, title: str) -> None:
    """Register GET `docs_url` (the Swagger UI page for `openapi_url`) and `docs_url`/assets/ (Swagger UI's files)
    on the FastAPI `app`. Call it with FastAPI's own docs page turned off (`docs_url=None`)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from starlette.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    assets = f"{docs_url.rstrip('/')}/{ASSETS}"
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{assets}/{SCRIPT}",
        swagger_css_url=f"{assets}/{STYLESHEET}",
        swagger_favicon_url=f"{assets}/{FAVICON}",
        swagger_ui_parameters={"validatorUrl": None},  # the badge would fetch validator.swagger.io
    )

    async def docs() -> HTMLResponse:
        return page

    app.add_api_route(docs_url, docs, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)
    app.mount(assets, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui-assets")
