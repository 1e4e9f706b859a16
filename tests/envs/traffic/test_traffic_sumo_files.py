"""Bad SUMO ``.net.xml`` files: every one a ValueError naming the file, and no entity expanded."""

import gzip
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metagame.envs.traffic.network import from_sumo

CROSS = (Path(__file__).parent / "data" / "cross.net.xml").read_bytes()
ROOT_END = CROSS.rindex(b"</net>")
ATTRIBUTES = [m.span(1) for m in re.finditer(rb' \w+="([^"]*)"', CROSS)]
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _write(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _assert_loads_or_names(path: Path) -> None:
    """``path`` reads as a network with links, or is a ValueError naming the file."""
    try:
        net = from_sumo(str(path))
    except ValueError as err:
        assert path.name in str(err)
    else:
        assert net.num_links >= 1


def _with_doctype(doctype: str, body: str) -> bytes:
    """``cross.net.xml`` with a DOCTYPE and ``body`` in the first junction's id."""
    head, rest = CROSS.split(b"<net ", 1)
    text = head + doctype.encode() + b"\n<net " + rest
    return text.replace(b'<junction id="C"', f'<junction id="C{body}"'.encode(), 1)


def test_gzipped_network_reads_like_the_plain_one(tmp_path):
    plain = from_sumo(str(_write(tmp_path, "cross.net.xml", CROSS)))
    packed = from_sumo(str(_write(tmp_path, "cross.net.xml.gz", gzip.compress(CROSS))))
    assert sorted(packed.graph.edges) == sorted(plain.graph.edges)
    assert packed.signal_phases[0][1].tolist() == plain.signal_phases[0][1].tolist()


@SETTINGS
@given(cut=st.integers(0, ROOT_END))
def test_truncated_network_names_the_file(tmp_path, cut):
    path = _write(tmp_path, "cut.net.xml", CROSS[:cut])
    with pytest.raises(ValueError, match="cut.net.xml"):
        from_sumo(str(path))


@SETTINGS
@given(cut=st.integers(0, 400))
def test_truncated_gzip_names_the_file(tmp_path, cut):
    packed = gzip.compress(CROSS)
    path = _write(tmp_path, "cut.net.xml.gz", packed[: cut * len(packed) // 401])
    with pytest.raises(ValueError, match="cut.net.xml.gz"):
        from_sumo(str(path))


@SETTINGS
@given(
    start=st.integers(0, len(CROSS) - 1),
    junk=st.binary(min_size=1, max_size=8),
)
def test_corrupted_network_loads_or_names_the_file(tmp_path, start, junk):
    """Any bytes overwritten anywhere: the file still reads, or is a ValueError naming it."""
    data = CROSS[:start] + junk + CROSS[start + len(junk) :]
    _assert_loads_or_names(_write(tmp_path, "junk.net.xml", data))


@SETTINGS
@given(
    which=st.integers(0, len(ATTRIBUTES) - 1),
    value=st.one_of(
        st.sampled_from(["", "-1", "0", "nan", "inf", "1e308", "C", "W2C", "G", "1.2.3"]),
        st.text(alphabet="abcCEWNSG0123456789_.,:- ", max_size=12),
    ),
)
def test_any_attribute_value_loads_or_names_the_file(tmp_path, which, value):
    """Any attribute of the network set to an odd value: it reads, or names the file."""
    lo, hi = ATTRIBUTES[which]
    _assert_loads_or_names(
        _write(tmp_path, "odd.net.xml", CROSS[:lo] + value.encode() + CROSS[hi:])
    )


def test_an_edge_without_its_junction_names_the_file(tmp_path):
    """Found by the corruption fuzz: an edge whose ``from`` attribute is damaged."""
    data = CROSS.replace(b'<edge id="S2C" from="S"', b'<edge id="S2C" crom="S"', 1)
    assert data != CROSS
    with pytest.raises(ValueError, match=r"broken\.net\.xml.*S2C"):
        from_sumo(str(_write(tmp_path, "broken.net.xml", data)))


def test_entity_bomb_is_refused(tmp_path):
    levels = ['<!ENTITY e0 "lol">'] + [
        f'<!ENTITY e{k} "{f"&e{k - 1};" * 10}">' for k in range(1, 10)
    ]
    data = _with_doctype(f"<!DOCTYPE net [{''.join(levels)}]>", "&e9;")  # 3e9 characters
    path = _write(tmp_path, "bomb.net.xml", data)
    with pytest.raises(ValueError, match=r"bomb\.net\.xml.*entit"):
        from_sumo(str(path))


def test_external_entity_is_refused(tmp_path):
    secret = _write(tmp_path, "secret.txt", b"the secret")
    doctype = f'<!DOCTYPE net [<!ENTITY leak SYSTEM "{secret.as_uri()}">]>'
    path = _write(tmp_path, "xxe.net.xml", _with_doctype(doctype, "&leak;"))
    with pytest.raises(ValueError, match=r"xxe\.net\.xml.*entit") as caught:
        from_sumo(str(path))
    assert "the secret" not in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x1f\x8b not gzip", b"<net", b"<net version='1.20'><edge id='a'></net>", b"\xff\xfe"],
)
def test_malformed_network_names_the_file(tmp_path, data):
    path = _write(tmp_path, "broken.net.xml", data)
    with pytest.raises(ValueError, match="broken.net.xml"):
        from_sumo(str(path))


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ('from="W" to="C"', 'from="Q" to="C"', "junction 'Q'"),  # no <junction id="Q">
        (
            '<junction id="W" type="dead_end" x="-200.00"',
            '<junction id="W" type="dead_end"',
            "attribute.*'x'",
        ),
        ('x="-200.00"', 'x="nan"', "'W'.*finite"),
        ('speed="13.89"', 'speed="0"', "speed limit 0"),
        ('<net version="1.20"', "<net", "'version'"),
    ],
)
def test_well_formed_file_that_is_no_network_names_the_file_and_problem(
    tmp_path, old, new, problem
):
    assert old.encode() in CROSS
    path = _write(tmp_path, "odd.net.xml", CROSS.replace(old.encode(), new.encode()))
    with pytest.raises(ValueError, match=rf"odd\.net\.xml.*{problem}"):
        from_sumo(str(path))
