"""Layer 1: profile operations and the fold into versions, on a few updates."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta

import pytest

from etl.model.profiles import Update, Version, apply_update, created_at, fold_profile, json_equal

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("state", "operation", "value", "expected"),
    [
        (None, "$set", {"a": 1}, {"a": 1}),
        ({"a": 1, "b": 2}, "$set", {"a": 5}, {"a": 5, "b": 2}),
        ({"a": 1}, "$set_once", {"a": 9, "b": 2}, {"a": 1, "b": 2}),
        (None, "$set_once", {"a": 9}, {"a": 9}),
        ({"a": 1, "b": 2}, "$unset", ["a", "missing"], {"b": 2}),
        (None, "$unset", ["a"], None),
        ({"l": ["x", "y"]}, "$union", {"l": ["y", "z", "z"]}, {"l": ["x", "y", "z"]}),
        ({"l": "x"}, "$union", {"l": ["y"]}, {"l": ["x", "y"]}),
        (None, "$union", {"l": ["a", "a"]}, {"l": ["a"]}),
        ({"l": ["x", "y", "x"]}, "$remove", {"l": "x"}, {"l": ["y"]}),
        ({"l": ["x"]}, "$remove", {"l": "absent"}, {"l": ["x"]}),
        ({"l": "scalar"}, "$remove", {"l": "scalar"}, {"l": "scalar"}),
        (None, "$remove", {"l": "x"}, None),
        ({"a": 1}, "$delete", "", None),
        (None, "$delete", None, None),
        ({"n": 2}, "$add", {"n": 3, "m": 1.5}, {"n": 5, "m": 1.5}),
        ({"n": "text"}, "$add", {"n": 3}, {"n": 3}),
        # a sum no double holds leaves the property as it was; the other names add
        ({"n": 1.7976931348623157e308}, "$add", {"n": 1.7976931348623157e308, "m": 1},
         {"n": 1.7976931348623157e308, "m": 1}),
        ({"n": 10**308}, "$add", {"n": 10**308}, {"n": 10**308}),
        ({"n": "text"}, "$add", {"n": -1.7976931348623157e308 * 1}, {"n": -1.7976931348623157e308}),
        ({"l": [1]}, "$append", {"l": 1}, {"l": [1, 1]}),
        (None, "$append", {"l": "x"}, {"l": ["x"]}),
    ],
)
def test_each_operation(state, operation, value, expected) -> None:  # noqa: ANN001
    state_before, value_before = copy.deepcopy(state), copy.deepcopy(value)
    assert apply_update(state, operation, value) == expected
    assert state == state_before  # operations never mutate their input, not even a nested list
    assert value == value_before


@pytest.mark.parametrize(
    ("operation", "value", "expected"),
    [
        ("$union", {"tags": ["c"], "meta": ["x"]}, {"tags": ["a", "b", "c"], "meta": [{"seen": ["d1"]}, "x"]}),
        ("$remove", {"tags": "a"}, {"tags": ["b"], "meta": {"seen": ["d1"]}}),
        ("$append", {"tags": "c"}, {"tags": ["a", "b", "c"], "meta": {"seen": ["d1"]}}),
        ("$set", {"meta": {"seen": ["d2"]}}, {"tags": ["a", "b"], "meta": {"seen": ["d2"]}}),
        ("$set_once", {"tags": ["z"], "new": [1]}, {"tags": ["a", "b"], "meta": {"seen": ["d1"]}, "new": [1]}),
        ("$unset", ["tags"], {"meta": {"seen": ["d1"]}}),
        ("$add", {"n": 1}, {"tags": ["a", "b"], "meta": {"seen": ["d1"]}, "n": 1}),
    ],
)
def test_nested_lists_and_dicts_are_never_shared_or_changed(operation, value, expected) -> None:  # noqa: ANN001
    state = {"tags": ["a", "b"], "meta": {"seen": ["d1"]}}
    state_before, value_before = copy.deepcopy(state), copy.deepcopy(value)
    new = apply_update(state, operation, value)
    assert new == expected
    assert state == state_before
    assert value == value_before
    scribble(new)  # the result shares nothing mutable with the state: changing it leaves the state alone
    assert state == state_before


def scribble(node: object) -> None:
    """Change every list and dict inside `node`, however deep."""
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in list(children):
        scribble(child)
    if isinstance(node, list):
        node.append("changed")
    elif isinstance(node, dict):
        node["changed"] = True


def test_folding_keeps_each_version_apart() -> None:
    updates = [Update(at(0), "$set", {"tags": ["a"]}), Update(at(10), "$union", {"tags": ["b"]}),
               Update(at(20), "$remove", {"tags": "a"})]
    given = copy.deepcopy(updates)
    versions = fold_profile(updates)
    assert [v.properties for v in versions] == [{"tags": ["a"]}, {"tags": ["a", "b"]}, {"tags": ["b"]}]
    versions[0].properties["tags"].append("changed")
    assert versions[1].properties == {"tags": ["a", "b"]}
    assert updates == given


def test_unknown_operation_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown profile operation"):
        apply_update({}, "$explode", {})


def test_versions_close_each_other_and_skip_no_ops() -> None:
    versions = fold_profile([
        Update(at(0), "$set", {"plan": "free"}),
        Update(at(10), "$set_once", {"plan": "pro"}),   # no change: no version
        Update(at(20), "$set", {"plan": "pro"}),
        Update(at(30), "$unset", ["nothing"]),          # no change
    ])
    assert versions == [
        Version(at(0), {"plan": "free"}, at(20)),
        Version(at(20), {"plan": "pro"}, None),
    ]


def test_updates_at_one_instant_collapse_into_one_version() -> None:
    versions = fold_profile([
        Update(at(0), "$set", {"a": 1}),
        Update(at(5), "$set", {"b": 2}),
        Update(at(5), "$set", {"c": 3}),
    ])
    assert versions == [Version(at(0), {"a": 1}, at(5)), Version(at(5), {"a": 1, "b": 2, "c": 3})]


def test_set_and_delete_at_one_instant_leave_nothing() -> None:
    assert fold_profile([Update(at(0), "$set", {"a": 1}), Update(at(0), "$delete", "")]) == []


def test_delete_then_set_starts_a_new_life() -> None:
    versions = fold_profile([
        Update(at(0), "$set", {"a": 1}),
        Update(at(10), "$delete", ""),
        Update(at(15), "$unset", ["a"]),   # on a missing profile: nothing
        Update(at(20), "$set", {"b": 2}),
    ])
    assert versions == [
        Version(at(0), {"a": 1}, at(10)),
        Version(at(10), None, at(20)),
        Version(at(20), {"b": 2}, None),
    ]
    assert versions[1].deleted
    assert created_at(versions) == at(20)


def test_operations_on_a_missing_profile_create_only_when_they_should() -> None:
    assert fold_profile([Update(at(0), "$remove", {"l": "x"}), Update(at(1), "$delete", "")]) == []
    assert fold_profile([Update(at(0), "$set_once", {"a": 1})]) == [Version(at(0), {"a": 1})]


def test_union_of_a_scalar_with_nothing_new_still_makes_it_a_list() -> None:
    versions = fold_profile([Update(at(0), "$set", {"l": "x"}), Update(at(1), "$union", {"l": []})])
    assert [v.properties for v in versions] == [{"l": "x"}, {"l": ["x"]}]


def test_folding_twenty_thousand_updates_to_one_profile_is_linear() -> None:
    """Issue 16: 5,000 updates took 43 s (a copy and a comparison of the whole state per
    update). 20,000 at one instant (untimed updates share the end of their day), plus
    20,000 at distinct instants that set one property: both fold in well under a second."""
    n = 20_000
    one_instant = [Update(at(0), "$set", {f"k{i}": i}) for i in range(n)]
    one_instant += [Update(at(0), "$union", {"tags": [i % (n // 2), "x"]}) for i in range(n)]
    one_instant.append(Update(at(0), "$remove", {"tags": "x"}))
    many_instants = [Update(at(1 + i), "$set", {"n": i}) for i in range(n)]
    many_instants += [Update(at(1 + n), "$set", {"n": n - 1})]  # no change: no version
    started = time.perf_counter()
    [only] = fold_profile(one_instant)
    versions = fold_profile(many_instants)
    assert time.perf_counter() - started < 5
    assert only.properties == {**{f"k{i}": i for i in range(n)}, "tags": list(range(n // 2))}
    assert len(versions) == n
    assert versions[-1] == Version(at(n), {"n": n - 1}, None)
    assert versions[0] == Version(at(1), {"n": 0}, at(2))


def test_values_compare_as_json_true_is_not_1() -> None:
    """$set of true over 1 (false over 0) changes the profile; $remove of 1 leaves true;
    numbers compare by value, so 1.0 over 1 changes nothing."""

    t0, t1, t2 = (datetime(2024, 1, 1, h, tzinfo=UTC) for h in (1, 2, 3))
    versions = fold_profile([Update(t0, "$set", {"a": 1, "b": 0}), Update(t1, "$set", {"a": True, "b": False}),
                             Update(t2, "$set", {"a": 1.0})])
    assert [v.properties for v in versions] == [{"a": 1, "b": 0}, {"a": True, "b": False}, {"a": 1.0, "b": False}]
    no_op = fold_profile([Update(t0, "$set", {"a": 1}), Update(t1, "$set", {"a": 1.0})])
    assert [v.properties for v in no_op] == [{"a": 1}]
    assert apply_update({"l": [True, 1, False, 0]}, "$remove", {"l": 1}) == {"l": [True, False, 0]}
    assert apply_update({"l": [True, 1.0]}, "$remove", {"l": True}) == {"l": [1.0]}
    assert apply_update({"l": [1]}, "$union", {"l": [True, 1.0, 0, False, False]}) == {"l": [1, True, 0, False]}
    assert apply_update({"l": [{"x": 1}]}, "$union", {"l": [{"x": True}, {"x": 1.0}]}) == {"l": [{"x": 1}, {"x": True}]}
    assert not json_equal([True], [1]) and json_equal({"a": [1, "x"]}, {"a": [1.0, "x"]})


def test_the_property_cap_skips_only_updates_with_a_ref_that_add_past_it() -> None:
    refused: list = []
    versions = fold_profile([
        Update(at(1), "$set", {"a": 1, "b": 2}, ref="r1"),
        Update(at(2), "$set", {"c": 3}, ref="r2"),          # a third property: refused
        Update(at(3), "$set", {"a": 9}, ref="r3"),          # overwrites at the cap: applied
        Update(at(4), "$union", {"d": [1]}),                # no ref (accepted earlier): applied
        Update(at(5), "$unset", ["a", "b"], ref="r5"),      # removes: applied
        Update(at(6), "$append", {"e": 1}, ref="r6"),       # back to two: applied
    ], max_properties=2, refused=refused)
    assert refused == ["r2"]
    assert [v.properties for v in versions] == [
        {"a": 1, "b": 2}, {"a": 9, "b": 2}, {"a": 9, "b": 2, "d": [1]}, {"d": [1]}, {"d": [1], "e": [1]}]
