"""common.cli.resolve_preset: how --quick combines with a named preset and with typed flags."""

import pytest

from common.cli import nonempty_positive_int_list, positive_int_list, resolve_preset

PRESETS = {"default": {"method": "a"}, "paper": {"method": "b"},
           "quick": {"method": "a", "hidden": 8, "updates": 3}}


def test_quick_alone_selects_the_quick_preset():
    assert resolve_preset(None, True, PRESETS, {"hidden": None}, sizes=["hidden", "updates"]) == ("quick", {"hidden": None})
    assert resolve_preset(None, False, PRESETS, {}, sizes=[])[0] == "default"


def test_quick_with_a_preset_shrinks_sizes_and_keeps_typed_flags():
    name, ov = resolve_preset("paper", True, PRESETS, {"hidden": None, "updates": 50, "method": None},
                              sizes=["hidden", "updates"])
    assert name == "paper"
    assert ov == {"hidden": 8, "updates": 50, "method": None}   # the paper's method is not replaced


def test_positive_int_lists():
    import argparse
    import pytest
    assert positive_int_list("2,3, 5") == (2, 3, 5) and positive_int_list("") == ()
    assert nonempty_positive_int_list("25,80") == (25, 80)
    for bad, fn in (("2,x", positive_int_list), ("3,0", positive_int_list), ("", nonempty_positive_int_list)):
        with pytest.raises(argparse.ArgumentTypeError):
            fn(bad)


def test_reject_renamed_exits_2_with_the_hint(capsys):
    import argparse
    from common.cli import reject_renamed
    p = argparse.ArgumentParser(prog="x", allow_abbrev=False)
    p.add_argument("--iterations", type=int)
    reject_renamed(p, {"--steps": "--steps was renamed --iterations"})
    assert p.parse_args(["--iterations", "3"]).iterations == 3
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--steps", "3"])
    assert e.value.code == 2 and "renamed --iterations" in capsys.readouterr().err
