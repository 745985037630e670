"""All API routes, in one router."""

from fastapi import APIRouter

from service.routes import ops, predict

router = APIRouter()
router.include_router(predict.router)
router.include_router(ops.public)
router.include_router(ops.protected)

__all__ = ["router"]
