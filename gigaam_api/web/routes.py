"""Everything the web page adds to the app, as one router."""

from __future__ import annotations

from fastapi import APIRouter

from gigaam_api.web import downloads, page

router = APIRouter()
router.include_router(page.router)
router.include_router(downloads.router)
