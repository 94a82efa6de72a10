"""JSON the way protobuf's JSON mapping (and so grpc-gateway) writes and reads it.

- Fields are written in lowerCamelCase and read in lowerCamelCase or as the
  snake_case proto name; unknown fields are ignored; `null` means "not set".
- Unset fields are left out of responses, rather than written as null (which
  the swagger schemas do not allow).
- Enums are written as their names and read as names or numbers.
- Timestamps are RFC 3339 in UTC ("2025-01-31T12:00:00Z").
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apikeys.models import validate_future_expiry


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ProtoSerializer(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            data = dict(data)
            for name in self.fields:
                alias = snake_case(name)
                if alias != name and alias in data:
                    if name in data:
                        raise serializers.ValidationError({name: [f"Given twice, as {name} and as {alias}."]})
                    data[name] = data.pop(alias)
            data = {key: value for key, value in data.items() if value is not None}
        return super().to_internal_value(data)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        return {key: value for key, value in data.items() if value is not None}


class StringField(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would take 12 for "12"."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATETIME)
class TimestampField(serializers.Field):
    default_error_messages = {
        "invalid": "Use an RFC 3339 timestamp with a time zone, e.g. 2030-01-31T12:00:00Z.",
    }

    def to_internal_value(self, data) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            value = datetime.fromisoformat(data)
            if value.tzinfo is None:
                self.fail("invalid")
            return value.astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail("invalid")

    def to_representation(self, value: datetime) -> str:
        value = value.astimezone(UTC)
        fraction = f".{value.microsecond:06d}" if value.microsecond else ""
        return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def future_expiry(value: datetime) -> datetime:
    """A new key's `expiresAt` (any kind): the one rule, apikeys.models.validate_future_expiry."""
    try:
        validate_future_expiry(value, now=timezone.now())
    except ValidationError as error:
        raise serializers.ValidationError(error.message_dict["expires_at"]) from None
    return value


class EnumField(serializers.ChoiceField):
    """A proto enum. `names` is the whole enum in number order (the first is
    *_UNSPECIFIED); `values` maps the names the API accepts to model values."""

    def __init__(self, names: list[str], values: dict[str, object], **kwargs):
        self.names = names
        self.values = values
        self.names_of = {value: name for name, value in values.items()}
        super().__init__(choices=names, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool) and 0 <= data < len(self.names):
            data = self.names[data]
        if isinstance(data, str) and data in self.values:
            return self.values[data]
        raise serializers.ValidationError(f"Use one of {', '.join(self.values)}.")

    def to_representation(self, value) -> str:
        return self.names_of.get(value, self.names[0])
