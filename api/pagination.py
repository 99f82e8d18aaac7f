"""Pages of the API's lists."""

import re

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_PAGE_SIZE = re.compile(r"\d{1,4}")


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M`: pages of 50 by default, at most 500. A page_size that is not
    a whole number from 1 to 500 is a 400 naming it; a page past the end is a 404."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_query_description = "The page number, from 1; a page past the last one is a 404."
    page_size_query_description = (
        f"Results per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."
    )

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        if not _PAGE_SIZE.fullmatch(raw) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        envelope = super().get_paginated_response_schema(schema)
        descriptions = {
            "count": "How many results there are in all, on every page.",
            "next": "The next page's URL; null on the last page.",
            "previous": "The previous page's URL; null on the first page.",
            "results": "This page's results.",
        }
        for name, description in descriptions.items():
            envelope["properties"][name]["description"] = description
        return envelope

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters
