"""The routes around a ticket's conversation: its files (download, upload) and its history."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from support_common.api.auth import caller
from support_common.api.errors import E401, E404, E409, E413, E422, doc
from support_common.api.models import DownloadOut, HistoryEntryOut, UploadOut, UploadRequest
from support_common.api.services import services
from support_common.api.tickets import TICKET_ID_DOC

router = APIGatewayHttpRouter()


@router.get(
    "/tickets/<ticket_id>/attachments/<number>",
    summary="Download one of a ticket's files: a short-lived presigned URL",
    responses={**doc(200, DownloadOut, "where to download it, until expires_at"), **E401, **E404, **E422},
)
def download_attachment(
    ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)],
    number: Annotated[int, Path(ge=1, le=100_000, description="the file's `n` on the ticket (1 = the first)")],
) -> DownloadOut:
    found = services(router.context).attachments.download(caller(router.current_event), ticket_id, number)
    return DownloadOut(
        name=found.name,
        content_type=found.content_type,
        size=found.size,
        url=found.url,
        expires_at=found.expires_at,
    )


@router.post(
    "/tickets/<ticket_id>/attachments",
    summary="Upload a file to a ticket: a presigned POST; the file is listed once it is in the bucket",
    responses={**doc(201, UploadOut, "the form to POST the file with"), **E401, **E404, **E409, **E413, **E422},
)
def upload_attachment(
    ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)],
    body: Annotated[UploadRequest, Body()],
) -> Response[UploadOut]:
    form = services(router.context).attachments.start_upload(
        caller(router.current_event), ticket_id, body.name, body.content_type
    )
    out = UploadOut(url=form.url, fields=form.fields, expires_at=form.expires_at, max_size=form.max_size)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=out)


@router.get(
    "/tickets/<ticket_id>/history",
    summary="Who changed a ticket's status, priority, type, tenant, assignee or title, and when",
    responses={**doc(200, list[HistoryEntryOut], "the changes, oldest first"), **E401, **E404, **E422},
)
def ticket_history(
    ticket_id: Annotated[str, Path(max_length=32, description=TICKET_ID_DOC)],
) -> list[HistoryEntryOut]:
    entries = services(router.context).tickets.history(caller(router.current_event), ticket_id)
    return [HistoryEntryOut.of(e) for e in entries]
