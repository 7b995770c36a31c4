"""The shared benchmark helpers used by the papers' bench.py scripts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.bench import median_seconds, roofline_report

ROOT = Path(__file__).resolve().parents[1]


def test_median_seconds_skips_warmup_calls():
    calls = []
    t = median_seconds(calls.append, repeats=3, warmup=2)
    assert calls == [0, 1, 2, 3, 4] and t >= 0


def test_roofline_report_names_the_fraction_and_memory():
    text = roofline_report(2e9, 0.1)
    assert "20.0 GFLOP/s" in text and "of roofline" in text and "peak resident memory" in text


def test_compare_torch_runs_both_sides_in_separate_processes(tmp_path):
    # The side-by-side harness end to end on the smallest workload (RC on bars): one round, both
    # implementations, a speed-up per compared phase, and the machine recorded.
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "reconstruction_clustering.bench", "--dataset", "bars", "--compare",
                        "torch", "--rounds", "1", "--repeats", "1", "--warmup", "1", "--threads", "1", "--json",
                        str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    update = next(row for row in res["rows"] if row["phase"] == "update")
    assert update["torch_ms"] > 0 and update["speedup"] == pytest.approx(update["torch_ms"] / update["numpy_ms"], abs=0.02)
    assert "torch ms" in r.stdout and "torch" in res["machine"]


def test_bench_refuses_compare_without_torch_in_one_line(tmp_path, monkeypatch):
    import common.bench as cb
    monkeypatch.setattr(cb, "_torch_available", lambda: False)
    from reconstruction_clustering.bench import main
    with pytest.raises(SystemExit) as e:
        main(["--dataset", "bars", "--compare", "torch"])
    assert e.value.code == 2


def test_layer_benchmark_rows_and_flop_counts():
    # Tiny sizes and one call each: what is checked is the bookkeeping (keys, the GEMM FLOPs of each
    # conv, the bytes of the memory-bound ops), never a time.
    from common.bench import format_layer_table, layer_benchmark
    n, S, c1, c2 = 2, 8, 2, 3
    rows = layer_benchmark(1, ((c1, c2),), n=n, size=S, warmup=0, gemm_n=32)
    keys = {"width", "op", "pass", "shape", "ms", "flops", "gflops", "of_gemm", "gemm_ms", "copy_ms", "dx_method",
            "bytes", "gbs", "of_copy", "of_conv", "vs_conv", "ref_gemm_gflops", "ref_copy_gbs"}
    assert all(set(r) == keys for r in rows)
    by = {(r["op"], r["pass"]): r for r in rows}
    assert len(by) == len(rows) == 20 and {r["width"] for r in rows} == {f"{c1}/{c2}"}
    # the fused decoder blocks: a 3x3 conv of the small input with 4 F outputs
    for op, (H, C, F) in {"conv dec1 fused": (S // 4, c2, c1), "conv dec2 fused": (S // 2, c1, 1)}.items():
        fwd = 2 * n * H * H * 9 * C * 4 * F
        assert by[(op, "forward")]["flops"] == fwd and by[(op, "backward")]["flops"] == 2 * fwd
        up = "upsample " + op.split()[1]
        conv = "conv " + op.split()[1]
        assert by[(op, "forward")]["of_conv"] == pytest.approx(
            by[(op, "forward")]["ms"] / (by[(conv, "forward")]["ms"] + by[(up, "forward")]["ms"]))
    # conv forward: 2 N Ho Wo kh kw C F; backward twice that
    convs = {"conv enc1": (S // 2, 1, c1), "conv enc2": (S // 4, c1, c2), "conv dec1": (S // 2, c2, c1),
             "conv dec2": (S, c1, 1)}
    for op, (Ho, C, F) in convs.items():
        fwd = 2 * n * Ho * Ho * 4 * 4 * C * F
        assert by[(op, "forward")]["flops"] == fwd and by[(op, "backward")]["flops"] == 2 * fwd
        assert by[(op, "backward")]["dx_method"] == ("col2im" if "enc" in op else "conv of dy")
        for p in ("forward", "backward"):
            r = by[(op, p)]
            assert r["gflops"] == pytest.approx(r["flops"] / r["ms"] / 1e6)
            assert r["of_gemm"] == pytest.approx(r["gflops"] / r["ref_gemm_gflops"], rel=0.01)
            assert r["bytes"] is None and r["of_conv"] is None
    x = n * (S // 2) ** 2 * c1                  # elements of the (N, S/2, S/2, C1) map of LN and ELU
    assert by[("layernorm", "forward")]["bytes"] == 4 * 2 * x and by[("elu", "backward")]["bytes"] == 4 * 4 * x
    assert by[("upsample dec2", "backward")]["bytes"] == 4 * 5 * n * (S // 2) ** 2 * c1
    for r in rows:
        if r["bytes"] is not None:
            assert r["flops"] is None and r["vs_conv"] in ("enc1", "dec1", "dec2")
            conv = by[(f"conv {r['vs_conv']}", r["pass"])]
            assert r["of_conv"] == pytest.approx(r["ms"] / conv["ms"])
    table = format_layer_table(rows, n=n, repeats=1)
    assert table.count("\n| 2/3 |") == 20 and "GFLOP/s" in table and "GB/s" in table and "fused decoder blocks" in table


def test_layers_cli_mistakes_are_one_line_and_exit_2(capsys):
    from common.bench import cli
    assert cli(["--json", "x.json"]) == 2                     # --json without --layers
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--layers" in err
    with pytest.raises(SystemExit) as e:
        cli(["--layers", "--widths", "32"])
    assert e.value.code == 2 and "C1:C2" in capsys.readouterr().err
