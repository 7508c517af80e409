"""The progress display without a terminal: why a stage runs, the heading it reached, inner progress."""

from __future__ import annotations

import nbformat

from nblib.engine.progress import Progress, progress_file, report_progress


def test_plain_lines_say_why_where_and_how_far(tmp_path, capsys):
    with Progress(True, ["04_train"]) as progress:  # stderr is not a terminal here: plain lines
        progress.start("04_train", 5, why="params.train.cv_folds changed (5 → 3)")
        hooks = progress.cell_hooks("04_train")
        hooks["on_cell_start"](
            cell=nbformat.v4.new_markdown_cell("## Search\nTrials, pruned fold by fold."), cell_index=3
        )
        hooks["on_cell_start"](cell=nbformat.v4.new_code_cell("x = 1"), cell_index=4)
        with progress.watch("04_train", progress_file(tmp_path, "04_train"), every=0.05, plain_every=0):
            report_progress(tmp_path, "04_train", "trial 3/8 · fold 2/5")
            import time

            time.sleep(0.3)
        assert progress.where("04_train") == 'cell 4 (under "Search")'
        progress.done("04_train", "succeeded", 1.25)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "[nblib] 04_train runs: params.train.cv_folds changed (5 → 3)"
    assert err[1].startswith("[nblib] 04_train: Search (")
    assert any(line.startswith("[nblib] 04_train: Search · trial 3/8 · fold 2/5 (") for line in err)
    assert err[-1] == "[nblib] 04_train succeeded (1.2s)"
    assert not progress_file(tmp_path, "04_train").exists(), "the channel is removed when the stage ends"
