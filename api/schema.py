"""The OpenAPI schema's error responses: every operation lists what it can answer besides
success, with the shapes of api/errors.py."""

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent, force_instance

from .errors import RejectUnknownFieldsMixin

_MESSAGES = {"type": "array", "items": {"type": "string"}}

VALIDATION_ERROR = {
    "type": "object",
    "description": "What is wrong with the request, field by field: each key is a field (or "
    "query parameter) of the request, each value the list of its problems. Problems about "
    "no single field are under `non_field_errors`.",
    "properties": {
        "non_field_errors": {
            **_MESSAGES,
            "description": "Problems of the request as a whole.",
        }
    },
    "additionalProperties": _MESSAGES,
}
ERROR = {
    "type": "object",
    "description": "An error that is about no particular field.",
    "properties": {"detail": {"type": "string", "description": "What went wrong."}},
    "required": ["detail"],
}


_SUCCESS = {"200": "OK.", "201": "Created.", "204": "Done; no body."}


def _component(name: str, schema: dict) -> ResolvedComponent:
    return ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the error responses each operation can give, and
    `additionalProperties: false` on request bodies whose serializer refuses unknown keys."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        validation = _component("ValidationError", VALIDATION_ERROR)
        error = _component("Error", ERROR)
        registry.register_on_missing(validation)
        registry.register_on_missing(error)

        def response(description: str, schema: dict) -> dict:
            return {"content": {"application/json": {"schema": schema}}, "description": description}

        parameters = operation.get("parameters", [])
        has_query = any(parameter["in"] == "query" for parameter in parameters)
        has_path = any(parameter["in"] == "path" for parameter in parameters)
        has_page = any(parameter["name"] == "page" for parameter in parameters)
        has_body = "requestBody" in operation
        errors = {}
        if has_body or has_query:
            errors["400"] = response(
                "Invalid input: the fields (or query parameters) at fault with their problems; "
                "`{detail}` when the body is not JSON or a value is out of range.",
                {"oneOf": [validation.ref, error.ref]},
            )
        if self.view.get_authenticators():
            errors["401"] = response(
                "No credentials, or bad ones (the `WWW-Authenticate` header says which "
                "scheme to use).",
                error.ref,
            )
        if self.view.get_permissions():
            errors["403"] = response(
                "Signed in, but not allowed: the object is read-only for you, or the "
                "operation is for another role.",
                error.ref,
            )
        if has_path or has_page:
            errors["404"] = response(
                "Not found: nothing you may see has this id (what you may not see is a 404 "
                "too, never a 403), or the page is past the last one.",
                error.ref,
            )
        if has_body:
            errors["413"] = response("The body is larger than the server accepts.", error.ref)
            errors["415"] = response("The body is not JSON.", error.ref)
        # Views name their other refusals (a 409 on a conflict) per action:
        # schema_error_responses = {"destroy": {409: "Still in use by …"}}
        action = getattr(self.view, "action", None) or self.method.lower()
        extra = getattr(self.view, "schema_error_responses", {}).get(action, {})
        for code, description in extra.items():
            errors[str(code)] = response(description, error.ref)
        # ... and the defaults they never give: schema_omitted_responses = {"get": {403}}
        for code in getattr(self.view, "schema_omitted_responses", {}).get(action, ()):
            errors.pop(str(code), None)
        responses = operation["responses"]
        for code, body in responses.items():
            if not body.get("description"):
                body["description"] = _SUCCESS.get(code, "")
        for code, body in errors.items():
            responses.setdefault(code, body)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(
            force_instance(serializer), RejectUnknownFieldsMixin
        ):
            schema["additionalProperties"] = False
        return schema
