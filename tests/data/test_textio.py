"""The text readers (snnbench.data.textio): a bad line is named by its file and number, any line
end reads, labels and index lines are checked."""

from __future__ import annotations

import numpy as np
import pytest

from snnbench.data.textio import as_labels, read_int_lines, read_matrix
from snnbench.errors import DataError


@pytest.mark.parametrize(
    "text,message",
    [
        ("1,2,3\n4,5\n", "line 2: 2 fields, expected 3"),
        ("1,2,3\n4,x,6\n", "line 2: field 2 is 'x', not a number"),
        ("1,2,3\n4,,6\n", "line 2: field 2 is '', not a number"),
        ("1,2,3\n4,nan,6\n", "line 2: field 2 is 'nan', not a finite number"),
        ("1,2,3\n\n4,5,6\n", "line 2: empty line"),
    ],
)
def test_read_matrix_names_the_bad_line(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        read_matrix(path, sep=",", ncols=3)
    assert str(info.value) == f"{path}, {message}"


def test_read_matrix_counts_header_lines_and_reads_any_line_end(tmp_path):
    path = tmp_path / "t.dat"
    path.write_bytes(b"\tf1\tf2\r\n1\t0.5\t2\r\n2\t0.25\tq\r\n")
    with pytest.raises(DataError, match="line 3: field 3 is 'q'"):
        read_matrix(path, sep="\t", skip=1)
    path.write_bytes(b"1,2\r3,4\r5,6")
    np.testing.assert_array_equal(read_matrix(path, sep=","), [[1, 2], [3, 4], [5, 6]])


def test_labels_and_index_lines(tmp_path):
    with pytest.raises(DataError, match="line 3: label 1.5 is not an integer"):
        as_labels(np.array([0, 1, 1.5]), path="l.dat", n_classes=2)
    path = tmp_path / "c.dat"
    path.write_text("0 1 2\n3 x\n")
    with pytest.raises(DataError, match="c.dat, line 2: 'x' is not an integer index"):
        read_int_lines(path)
