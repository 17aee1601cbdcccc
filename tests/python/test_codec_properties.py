"""Property tests of the state codec: any value that fits a schema survives encode/decode
unchanged, and no byte string crashes the decoder (it decodes or raises StatefoldError)."""

import dataclasses
import datetime
import enum
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

import pydantic
from hypothesis import given, settings
from hypothesis import strategies as st

from statefold import StatefoldError, _ext
from statefold.schema import describe


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Inner:
    name: str
    score: float


@dataclasses.dataclass
class Everything:
    flag: bool
    count: int
    ratio: float
    text: str
    raw: bytes
    seen_at: datetime.datetime
    maybe: Optional[int]
    items: List[str]
    tags: Set[str]
    frozen: FrozenSet[int]
    history: Tuple[int, ...]
    pair: Tuple[str, int]
    nested: Dict[str, List[int]]
    color: Color
    level: Level
    inner: Inner
    inners: List[Inner]


class Model(pydantic.BaseModel):
    counts: Dict[str, int] = {}
    last: Optional[datetime.datetime] = None
    colors: List[Color] = []


ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False)
texts = st.text(max_size=20)
datetimes = st.one_of(
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
    st.datetimes(
        min_value=datetime.datetime(1900, 1, 2),
        max_value=datetime.datetime(2100, 1, 1),
        timezones=st.builds(
            lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes)),
            st.integers(min_value=-23 * 60, max_value=23 * 60),
        ),
    ),
)
inner = st.builds(Inner, name=texts, score=floats)
everything = st.builds(
    Everything,
    flag=st.booleans(), count=ints, ratio=floats, text=texts, raw=st.binary(max_size=20),
    seen_at=datetimes, maybe=st.one_of(st.none(), ints), items=st.lists(texts, max_size=5),
    tags=st.sets(texts, max_size=5), frozen=st.frozensets(ints, max_size=5),
    history=st.lists(ints, max_size=5).map(tuple), pair=st.tuples(texts, ints),
    nested=st.dictionaries(texts, st.lists(ints, max_size=3), max_size=3),
    color=st.sampled_from(Color), level=st.sampled_from(Level), inner=inner,
    inners=st.lists(inner, max_size=3),
)
models = st.builds(
    Model,
    counts=st.dictionaries(texts, ints, max_size=4),
    last=st.one_of(st.none(), datetimes),
    colors=st.lists(st.sampled_from(Color), max_size=4),
)

EVERYTHING_CODEC = _ext.Codec(describe(Everything)[0])
MODEL_CODEC = _ext.Codec(describe(Model)[0])


@settings(max_examples=300, deadline=None)
@given(everything)
def test_every_supported_type_round_trips(value):
    decoded = EVERYTHING_CODEC.decode(EVERYTHING_CODEC.encode(value))
    assert decoded == value
    assert decoded.seen_at.utcoffset() == value.seen_at.utcoffset()


@settings(max_examples=200, deadline=None)
@given(models)
def test_pydantic_models_round_trip(value):
    decoded = MODEL_CODEC.decode(MODEL_CODEC.encode(value))
    assert decoded == value
    assert decoded.model_dump() == value.model_dump()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash_the_decoder(data):
    try:
        EVERYTHING_CODEC.decode(data)
    except StatefoldError:
        pass


@settings(max_examples=200, deadline=None)
@given(everything, st.integers(min_value=0, max_value=10**6))
def test_truncated_encodings_are_rejected(value, cut):
    encoded = EVERYTHING_CODEC.encode(value)
    cut = cut % len(encoded)
    try:
        EVERYTHING_CODEC.decode(encoded[:cut])
    except StatefoldError:
        return
    raise AssertionError("a truncated encoding decoded without error")
