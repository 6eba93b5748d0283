"""Paginating SQLAlchemy selects for flask-smorest's @blp.paginate()."""

from __future__ import annotations

from typing import Any

from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def paginate(session: Session, stmt: Select[Any], params: PaginationParameters) -> list[Any]:
    """One page of `stmt`'s rows; sets the total for the X-Pagination header."""
    params.item_count = session.scalar(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    )
    if params.first_item >= (params.item_count or 0):
        return []  # past the end (also keeps absurd page numbers away from the database)
    return list(session.scalars(stmt.offset(params.first_item).limit(params.page_size)))
