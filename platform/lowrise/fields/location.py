"""Location (`location`): an address, with its coordinates when they are known.

Written as the address alone (`上海市浦东新区世纪大道100号`), the coordinates alone
(`31.2304, 121.4737`), or both with `@` between them (`世纪大道100号 @ 31.2304, 121.4737`);
the API also takes an object `{address, lat, lng}`. Stored as that object (JSON text)."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from markupsafe import Markup, escape

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import FieldType, Input, registry

_PAIR = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,，]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
MAX_ADDRESS = 500


def _coordinate(raw, top: int):
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or not -top <= value <= top:
        return None
    return float(round(value, 6))


def _shown(number: float) -> str:
    text = repr(float(number))
    return text[:-2] if text.endswith(".0") else text


@registry.register
class Location(FieldType):
    """An address, with latitude and longitude when known."""

    name = "location"
    widget = "location"
    operators = ("contains", "not_contains", "is_empty", "is_not_empty")
    searchable = True
    sortable = False
    indexable = False
    options_schema = {"require_coordinates": {
        "type": "boolean", "description": "refuse a location without latitude and longitude"}}

    def json_schema(self, field, writing):
        place = {"type": "object", "additionalProperties": False, "properties": {
            "address": {"type": ["string", "null"], "maxLength": MAX_ADDRESS},
            "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
            "lng": {"type": ["number", "null"], "minimum": -180, "maximum": 180}}}
        if not writing:
            return place
        return {"anyOf": [{"type": "string", "description": "an address, 31.2304, 121.4737, "
                                                              "or both: address @ lat, lng"},
                          {**place, "properties": {
                              k: {**v, "type": ["string", *v["type"]]} if k != "address"
                              else v for k, v in place["properties"].items()}}]}

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, dict):
            if set(raw) - {"address", "lat", "lng"}:
                raise FieldError(msg("a location has an address, lat and lng only"))
            address, lat, lng = raw.get("address"), raw.get("lat"), raw.get("lng")
            if address is not None and not isinstance(address, str):
                raise FieldError(msg("expected text, got %(kind)s", kind=type(address).__name__))
            pair = None if lat is None and lng is None else (lat, lng)
        elif isinstance(raw, str):
            address, _, coords = raw.rpartition("@") if "@" in raw else (raw, "", "")
            if not coords and _PAIR.match(raw):
                address, coords = "", raw
            pair = None
            if coords:
                m = _PAIR.match(coords)
                if not m:
                    raise FieldError(msg("'%(value)s' are not coordinates (write latitude, "
                                         "longitude, like 31.2304, 121.4737)", value=coords.strip()))
                pair = (m[1], m[2])
        else:
            raise FieldError(msg("expected text, got %(kind)s", kind=type(raw).__name__))
        address = FieldType.parse(self, field, address) if address else None
        if address and len(address) > MAX_ADDRESS:
            raise FieldError(msg("must be at most %(max)s characters (is %(n)s)",
                                 max=MAX_ADDRESS, n=len(address)))
        lat = lng = None
        if pair is not None:
            if any(v is None or isinstance(v, bool) for v in pair):
                raise FieldError(msg("a location needs both latitude and longitude, or neither"))
            lat, lng = _coordinate(pair[0], 90), _coordinate(pair[1], 180)
            if lat is None or lng is None:
                raise FieldError(msg("latitude is between -90 and 90 and longitude between "
                                     "-180 and 180"))
        if address is None and lat is None:
            return None
        return {"address": address, "lat": lat, "lng": lng}

    def check(self, field, value):
        if field.config.get("require_coordinates") and value.get("lat") is None:
            raise FieldError(msg("needs its latitude and longitude (address @ lat, lng)"))

    def to_db(self, field, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def from_db(self, field, value):
        return None if not value else json.loads(value)

    def _coords(self, value) -> str:
        if value.get("lat") is None:
            return ""
        return f"{_shown(value['lat'])}, {_shown(value['lng'])}"

    def display(self, field, value, locale="en"):
        if not value:
            return ""
        coords = self._coords(value)
        if value.get("address") and coords:
            return f"{value['address']} @ {coords}"
        return value.get("address") or coords

    def html(self, field, value, page):
        address = escape(value.get("address") or self._coords(value))
        if value.get("lat") is None:
            return Markup(f'<span class="place">{address}</span>')  # nosec B704 - every value in it is escaped
        href = (f"https://www.openstreetmap.org/?mlat={value['lat']}&mlon={value['lng']}"
                f"#map=17/{value['lat']}/{value['lng']}")
        return Markup(f'<a class="place" href="{escape(href)}" rel="noopener noreferrer '  # nosec B704 - every value in it is escaped
                      f'nofollow" target="_blank" title="{escape(self._coords(value))}">'
                      f'{address}</a>')

    def form_input(self, field):
        return Input("text", {"placeholder": "… @ 31.2304, 121.4737", "maxlength": 600})

    def form_value(self, field, value):
        return self.display(field, value)

    def sample(self, field, sampler):
        lat = round(31.2 + sampler.rng.uniform(-0.2, 0.2), 4)
        lng = round(121.47 + sampler.rng.uniform(-0.2, 0.2), 4)
        return {"address": sampler.fake.address().replace("\n", " "), "lat": lat, "lng": lng}

    def fit_sample(self, field, value, rng):
        return {"address": value, "lat": None, "lng": None} if isinstance(value, str) else value
