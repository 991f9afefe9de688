"""Tables as people have them: header-less files, missing values, coded labels, CSV quirks, and their messages."""

from __future__ import annotations

import numpy as np
import pytest

from aimodel.config import load_config
from aimodel.data import load_data
from aimodel.data.files import CsvLayout, decimal_point, read_csv, read_csv_bytes
from aimodel.data.missing import parse_number
from aimodel.errors import ConfigError, DataError
from aimodel.inference.collect import Item
from aimodel.inference.prepare import make_preparer
from tests.conftest import TINY, write_config

COLUMNS = ["glucose", "bmi", "smoker", "outcome"]


def rows(n: int = 80, seed: int = 0) -> list[str]:
    """Header-less rows: glucose decides the class; some cells missing ("", "?", "NA"), bmi 0 = not measured."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = i % 2
        glucose = f"{100 + 40 * label + rng.normal(0, 8):.1f}"
        bmi = f"{25 + rng.normal(0, 3):.1f}"
        smoker = ["yes", "no"][int(rng.integers(2))]
        if i % 7 == 3:
            glucose = "?"
        if i % 9 == 4:
            bmi = "0"
        if i % 11 == 5:
            smoker = "NA"
        out.append(f"{glucose},{bmi},{smoker},{label}")
    return out


def write_rows(path, lines, header=None):
    path.write_text(((header + "\n") if header else "") + "\n".join(lines) + "\n")
    return path


def bundle(tmp_path, task="classification", **dataset):
    cfg = load_config(write_config(tmp_path / "c.yaml", dict(TINY, seed=3, task=task,
                                                             dataset={"name": "csv", **dataset})))
    return load_data(cfg.dataset, cfg.seed, cfg.task)


# --- reading: header detection, dataset.columns, CSV quirks -------------------------------------------


def test_header_auto_numbers_are_data_and_names_are_a_header(tmp_path):
    numbers = read_csv(write_rows(tmp_path / "a.csv", ["1,2.5,3", "4,5,6"]), layout=CsvLayout(header="auto"))
    assert not numbers.has_header and numbers.header == ["column_1", "column_2", "column_3"]
    assert numbers.lines == [1, 2] and numbers.rows[0] == ["1", "2.5", "3"]
    named = read_csv(write_rows(tmp_path / "b.csv", ["1,2,3"], header="a,b,c"), layout=CsvLayout(header="auto"))
    assert named.has_header and named.header == ["a", "b", "c"] and named.lines == [2]
    forced = read_csv(write_rows(tmp_path / "c.csv", ["x,y,z"]), layout=CsvLayout(header="false"))
    assert forced.header == ["column_1", "column_2", "column_3"] and forced.rows == [["x", "y", "z"]]


@pytest.mark.parametrize("lines, header", [
    (["17.9, 10.3, ?, west, malignant", "20.5, ?, 132.9, east, benign", "19.6, 21.2, 130.0, west, benign"], False),
    (["17.9,10.3,west,malignant", "20.5,17.7,east,benign", "19.6,21.2,west,benign"], False),  # a class recurs
    (["1,,3", "4,5,6", "7,8,9"], False),  # an empty cell is missing, not a name
    (["great film,pos", "dull,neg", "loved it,pos"], False),  # text: the class recurs below
    (["region,glucose,outcome", "west,101.5,0", "east,140.2,1"], True),  # a word above numbers
    (["0,1,2,target", "0.5,1.5,2.5,yes", "1.5,2.5,3.5,no"], True),  # numbers as names above a label
    (["review,label", "great film,pos", "dull,neg"], True),
    (["a,b", "1,2"], True), (["1,2", "3,4"], False),
    (['"$1,200",red', '"$2,500",blue', '"$900",red'], False), (['price,color', '"$1,200",red'], True),
])
def test_header_auto_compares_the_first_line_with_the_rows_below(tmp_path, lines, header):
    table = read_csv(write_rows(tmp_path / "t.csv", lines), layout=CsvLayout(header="auto"))
    assert table.has_header is header
    assert len(table.rows) == len(lines) - header


@pytest.mark.parametrize("lines", [["a,b,label,", "1,2,x,", "3,4,y,"], ["a,b,label", "1,2,x,", "3,4,y,"],
                                   ["1,2,x,,", "3,4,y,,"]])
def test_a_delimiter_ending_every_line_adds_no_column(tmp_path, lines):
    table = read_csv(write_rows(tmp_path / "t.csv", lines), layout=CsvLayout(header="auto"))
    assert len(table.header) == 3 and all(len(r) == 3 for r in table.rows)
    kept = read_csv(write_rows(tmp_path / "k.csv", ["a,b,label,notes", "1,2,x,", "3,4,y,"]))
    assert kept.header == ["a", "b", "label", "notes"]  # a named column stays (an error names it if used)


def test_a_headerless_training_file_keeps_its_column_names_for_one_row_files(tmp_path):
    b = bundle(tmp_path, path=str(write_rows(tmp_path / "d.csv", rows())), label="column_4")
    assert b.spec.file_columns == ["column_1", "column_2", "column_3", "column_4"]
    one = read_csv(write_rows(tmp_path / "one.csv", ["?,31.0,no"]), layout=b.spec.csv_layout())
    assert one.header == ["column_1", "column_2", "column_3"] and one.rows == [["?", "31.0", "no"]]


def test_header_false_from_yaml_is_a_boolean_and_still_works(tmp_path):
    path = write_rows(tmp_path / "d.csv", rows())
    cfg = load_config(write_config(tmp_path / "c.yaml", dict(TINY, dataset={
        "name": "csv", "path": str(path), "label": "column_4", "header": False})))
    assert cfg.dataset.header == "false"
    assert len(load_data(cfg.dataset, cfg.seed).train) > 0


def test_a_repeated_name_in_a_detected_header_says_how_to_read_it_as_data(tmp_path):
    with pytest.raises(DataError, match=r"appear more than once in the header \(if the first line is data, "
                                        r"set dataset\.header: false\)"):
        read_csv(write_rows(tmp_path / "t.csv", ["x,x,y", "1,2,3"]), layout=CsvLayout(header="auto"))


@pytest.mark.parametrize("cell, read", [("17,99", "17.99"), ("-0,5", "-0.5"), ("1.234,5", "1234.5"),
                                        ("1.234", "1234"), ("2,5e3", "2.5e3"), (",5", ".5"), ("1.5", "1.5"),
                                        ("west", "west"), ("1,2,3", "1,2,3"), ("12,5 kg", "12,5 kg"),
                                        ("€ 1.234,50", "€ 1234.50"), ("12,5 %", "12.5 %"), ("-3,5 €", "-3.5 €")])
def test_decimal_point_reads_a_decimal_comma_and_leaves_other_cells(cell, read):
    assert decimal_point(cell) == read


def test_a_decimal_comma_with_a_currency_sign_or_percent_reads_as_its_number():
    assert [parse_number(decimal_point(c)) for c in ("€ 1.234,50", "12,5 %", "-3,5 €")] == [1234.5, 12.5, -3.5]


@pytest.mark.parametrize("cell, value", [("$1,234.50", 1234.5), ("-€5", -5.0), ("$-3", -3.0), ("1,200", 1200.0),
                                         ("12,345,678.9", 12345678.9), ("12.5%", 12.5), ("30 £", 30.0),
                                         ("1.5e3", 1500.0), (" 7 ", 7.0)])
def test_formatted_numbers_read_as_numbers(cell, value):
    assert parse_number(cell) == value


@pytest.mark.parametrize("cell", ["1,23", "1,2345", "$", "-$-3", "$5%", "(5)", "abc", "5 kg"])
def test_other_cells_are_not_numbers(cell):
    with pytest.raises(ValueError):
        parse_number(cell)


def test_outside_comma_separated_files_a_lone_comma_group_is_not_a_thousands_separator():
    assert parse_number("17,990") == 17990.0  # quoted in a comma-separated file: thousands
    with pytest.raises(ValueError):  # in a ';' file it may be 17.99: the decimal-comma error names the fix
        parse_number("17,990", commas=False)
    assert [parse_number(c, commas=False) for c in ("$17,990", "1,234,567", "1,234.5")] == [17990.0, 1234567.0, 1234.5]


def test_a_semicolon_file_with_three_decimals_after_the_comma_is_not_read_as_thousands(tmp_path):
    lines = [f"{17 + i * 0.25:.3f};{['ja', 'nein'][i % 2]};{i % 2}".replace(".", ",") for i in range(40)]
    path = write_rows(tmp_path / "e.csv", lines, header="radius;smoker;outcome")
    with pytest.raises(DataError, match=r"column 'radius' holds numbers with a decimal comma \(17,000\)"):
        bundle(tmp_path, path=str(path), label="outcome", delimiter=";")
    b = bundle(tmp_path, path=str(path), label="outcome", delimiter=";", decimal=",")
    assert max(np.concatenate([b.train.x["radius"], b.test.x["radius"]])) == pytest.approx(17 + 39 * 0.25)


def test_a_price_column_with_dollars_and_thousands_is_numeric_in_training_and_predict(tmp_path):
    lines = [f'"${1000 + 250 * i:,}.00",{30 + i % 7}%,{["red", "blue"][i % 2]},"{90_000 + 1_500 * i:,}"'
             for i in range(40)]
    b = bundle(tmp_path, path=str(write_rows(tmp_path / "p.csv", lines, header="price,share,color,value")),
               label="value", task="regression")
    assert [c["type"] for c in b.spec.columns] == ["numeric", "numeric", "categorical"]
    every = np.concatenate([b.train.x["price"], b.test.x["price"]])
    assert sorted(every.tolist())[:2] == [1000.0, 1250.0]
    assert sorted(np.concatenate([b.train.y, b.test.y]).ravel().tolist())[:2] == [90000.0, 91500.0]
    preparer = make_preparer(b.spec, {})
    assert preparer.prepare(Item("row", value={"price": "$2,000", "share": "31%", "color": "red"})) == \
        {"price": 2000.0, "share": 31.0, "color": "red"}


def euro_lines(n: int = 60) -> list[str]:
    """';'-separated, decimal commas: what a spreadsheet writes in much of Europe."""
    return [f"{100 + 40 * (i % 2) + (i % 5) * 0.25:.2f};{i % 3},5;{['ja', 'nein'][i % 2]};{i % 2}".replace(".", ",")
            for i in range(n)]


def test_a_semicolon_file_with_decimal_commas_reads_as_numbers_and_predict_reads_alike(tmp_path):
    path = write_rows(tmp_path / "e.csv", euro_lines(), header="glucose;dose;smoker;outcome")
    b = bundle(tmp_path, path=str(path), label="outcome", delimiter=";", decimal=",")
    assert [c["type"] for c in b.spec.columns] == ["numeric", "numeric", "categorical"]
    assert b.spec.delimiter == ";" and b.spec.decimal == ","
    assert sorted(set(np.concatenate([b.train.x["dose"], b.test.x["dose"]]).tolist())) == [0.5, 1.5, 2.5]
    one = read_csv(write_rows(tmp_path / "p.csv", ["1.140,25;2,5;ja"], header="glucose;dose;smoker"),
                   layout=b.spec.csv_layout())
    assert one.header == ["glucose", "dose", "smoker"] and one.rows == [["1140.25", "2.5", "ja"]]
    upload = read_csv_bytes(b"glucose;dose;smoker\n99,5;1,5;nein\n", "upload.csv", layout=b.spec.csv_layout())
    assert upload.rows == [["99.5", "1.5", "nein"]]  # serve's uploads
    preparer = make_preparer(b.spec, {})  # a JSON string from a client: the same reading
    assert preparer.prepare(Item("row", value={"glucose": "1.140,25", "dose": "2,5", "smoker": "ja"})) == \
        {"glucose": 1140.25, "dose": 2.5, "smoker": "ja"}


def test_decimal_commas_without_dataset_decimal_and_a_wrong_delimiter_get_one_line_messages(tmp_path):
    path = write_rows(tmp_path / "e.csv", euro_lines(), header="glucose;dose;smoker;outcome")
    with pytest.raises(DataError, match=r"column 'glucose' holds numbers with a decimal comma \(1[0-9]{2},[0-9]+\): "
                                        r"set dataset\.decimal: ','"):
        bundle(tmp_path, path=str(path), label="outcome", delimiter=";")
    with pytest.raises(DataError, match=r"line 2 has 3 fields, the header has 1 \(its first line looks separated by "
                                        r"';', not ','"):
        bundle(tmp_path, path=str(path), label="outcome")
    with pytest.raises(ConfigError, match=r"dataset\.decimal ',' needs another field separator"):
        bundle(tmp_path, path=str(path), label="outcome", decimal=",")


def test_a_tsv_file_needs_no_delimiter(tmp_path):
    path = write_rows(tmp_path / "d.tsv", [r.replace(",", "\t") for r in rows()])
    b = bundle(tmp_path, path=str(path), label="column_4")
    assert b.spec.file_columns == ["column_1", "column_2", "column_3", "column_4"] and b.spec.delimiter is None
    assert len(read_csv(write_rows(tmp_path / "p.tsv", ["120\t30\tno"]), layout=b.spec.csv_layout()).rows) == 1


def write_sheet(path, rows, first_sheet=None):
    """An .xlsx workbook (openpyxl) with ``rows`` (Python values) on a sheet named "data"."""
    import openpyxl

    book = openpyxl.Workbook()
    if first_sheet is not None:
        book.active.title = first_sheet
        book.active["A1"] = "notes"
        sheet = book.create_sheet("data")
    else:
        sheet = book.active
        sheet.title = "data"
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_a_spreadsheet_reads_as_its_csv_would(tmp_path):
    import datetime as dt

    rows = [["glucose", "bmi", "smoker", "seen", "outcome"]] + [
        [100.5 + i, None if i % 4 == 1 else 20 + i, ["yes", "no"][i % 2], dt.datetime(2024, 1, 1 + i), i % 2]
        for i in range(6)] + [[120 + i, 25, "no", dt.datetime(2024, 2, 1 + i), i % 2] for i in range(14)]
    rows[3][0] = "#N/A"  # an Excel error value: missing
    rows.insert(7, [None] * 5)  # a blank row, left out
    table = read_csv(write_sheet(tmp_path / "t.xlsx", rows), layout=CsvLayout(header="auto"))
    assert table.header == ["glucose", "bmi", "smoker", "seen", "outcome"] and table.lines[:7] == [2, 3, 4, 5, 6, 7, 9]
    assert table.rows[0] == ["100.5", "20", "yes", "2024-01-01", "0"] and table.rows[1][1] == ""
    assert table.rows[2][0] == ""
    b = bundle(tmp_path, path=str(tmp_path / "t.xlsx"), label="outcome", features=["glucose", "bmi", "smoker"])
    assert [c["type"] for c in b.spec.columns] == ["numeric", "numeric", "categorical"]


def test_a_workbook_whose_first_sheet_is_not_the_table_names_its_sheets(tmp_path):
    path = write_sheet(tmp_path / "w.xlsx", [["x", "y"], [1, "a"], [2, "b"]], first_sheet="README")
    with pytest.raises(DataError, match=r"its first sheet 'README' holds 1 row\(s\); name the sheet with the table "
                                        r"in dataset\.sheet \(sheets: README, data\)"):
        read_csv(path, layout=CsvLayout(header="auto"))
    assert read_csv(path, layout=CsvLayout(header="auto", sheet="data")).rows == [["1", "a"], ["2", "b"]]
    with pytest.raises(DataError, match=r"no sheet 'Data' \(dataset\.sheet\); sheets: README, data"):
        read_csv(path, layout=CsvLayout(sheet="Data"))
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"old\.xls: \.xls spreadsheets are not read; save it as \.xlsx or \.csv"):
        read_csv(tmp_path / "old.xls")
    (tmp_path / "fake.xlsx").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"fake\.xlsx: not a readable \.xlsx file"):
        read_csv(tmp_path / "fake.xlsx")


def test_columns_name_a_headerless_file_and_a_file_with_that_header_or_without_the_label(tmp_path):
    layout = CsvLayout(header="auto", columns=COLUMNS, label="outcome")
    plain = read_csv(write_rows(tmp_path / "a.csv", ["yes,1,no,0", "1,2,yes,1"]), layout=layout)
    assert plain.header == COLUMNS and len(plain.rows) == 2  # a first row with words is still data
    headed = read_csv(write_rows(tmp_path / "b.csv", ["1,2,no,0"], header="outcome,glucose,bmi,smoker"),
                      layout=layout)
    assert headed.has_header and headed.header == ["outcome", "glucose", "bmi", "smoker"]
    features = read_csv(write_rows(tmp_path / "c.csv", ["1,2,no"]), layout=layout)
    assert features.header == ["glucose", "bmi", "smoker"]


def test_columns_with_the_wrong_count_name_the_first_row_that_disagrees(tmp_path):
    layout = CsvLayout(header="auto", columns=COLUMNS, label="outcome")
    with pytest.raises(DataError, match=r"a\.csv: line 1 has 5 fields, dataset\.columns names 4"):
        read_csv(write_rows(tmp_path / "a.csv", ["1,2,3,4,5"]), layout=layout)
    with pytest.raises(DataError, match=r"b\.csv: line 3 has 3 fields, dataset\.columns names 4"):
        read_csv(write_rows(tmp_path / "b.csv", ["1,2,no,0", "1,2,no,1", "1,2,no"]), layout=layout)


def test_mixed_line_ends_a_last_line_without_newline_and_quoted_fields_read_correctly(tmp_path):
    data = b'a,b,c\r\n1,"x, y",2\n3,"two\nlines",4\r5,"say ""hi""",6'
    table = read_csv_bytes(data, "q.csv")
    assert table.header == ["a", "b", "c"]
    assert table.rows == [["1", "x, y", "2"], ["3", "two\nlines", "4"], ["5", 'say "hi"', "6"]]
    assert table.lines == [2, 4, 5]


# --- loading: missing values, coded labels ----------------------------------------------------------


def test_missing_numeric_cells_are_nan_categorical_ones_a_category_and_zero_means_missing(tmp_path):
    path = write_rows(tmp_path / "d.csv", rows())
    b = bundle(tmp_path, path=str(path), columns=COLUMNS, label="outcome", zero_means_missing=["bmi"],
               class_names={0: "healthy", 1: "diabetic"}, validation_split=0.2)
    assert b.spec.class_names == ["healthy", "diabetic"] and b.spec.label_values == ["0", "1"]
    assert b.spec.columns == [{"name": "glucose", "type": "numeric"},
                              {"name": "bmi", "type": "numeric", "zero_means_missing": True},
                              {"name": "smoker", "type": "categorical"}]
    assert b.spec.file_columns == COLUMNS and b.spec.missing_values[:2] == ["", "NA"]
    x = {k: np.concatenate([s.x[k] for s in (b.train, b.val, b.test)]) for k in b.train.x}
    assert np.isnan(x["glucose"]).sum() == sum(1 for i in range(80) if i % 7 == 3)
    assert np.isnan(x["bmi"]).sum() == sum(1 for i in range(80) if i % 9 == 4) and not (x["bmi"] == 0).any()
    assert (x["smoker"] == "(missing)").sum() == sum(1 for i in range(80) if i % 11 == 5)


def test_class_names_as_a_list_follow_the_sorted_labels(tmp_path):
    path = write_rows(tmp_path / "d.csv", rows())
    b = bundle(tmp_path, path=str(path), columns=COLUMNS, label="outcome", class_names=["no", "yes"])
    assert b.spec.class_names == ["no", "yes"]
    with pytest.raises(DataError, match=r"dataset\.class_names: no name for label '1'"):
        bundle(tmp_path, path=str(path), columns=COLUMNS, label="outcome", class_names={0: "no"})


def test_rows_without_a_label_are_dropped_and_counted(tmp_path):
    lines = rows()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",?"
    lines[8] = lines[8].rsplit(",", 1)[0] + ","
    b = bundle(tmp_path, path=str(write_rows(tmp_path / "d.csv", lines)), columns=COLUMNS, label="outcome")
    assert b.notes["dropped_rows"] == 2
    assert len(b.train) + len(b.val) + len(b.test) == 78


@pytest.mark.parametrize("change, dataset, message", [
    (lambda r: [x.rsplit(",", 1)[0] + ",NA" for x in r], {}, r"d\.csv: the label column 'outcome' is missing in every row"),
    (lambda r: ["?," + x.split(",", 1)[1] for x in r], {}, r"d\.csv: column 'glucose' is missing in every row"),
    (lambda r: r, {"zero_means_missing": ["weight"]}, r"dataset\.zero_means_missing: 'weight' is not a feature column"),
    (lambda r: r, {"zero_means_missing": ["smoker"]}, r"dataset\.zero_means_missing: 'smoker' is not a numeric column"),
])
def test_bad_tables_get_one_line_messages(tmp_path, change, dataset, message):
    path = write_rows(tmp_path / "d.csv", change(rows()))
    with pytest.raises(DataError, match=message):
        bundle(tmp_path, path=str(path), columns=COLUMNS, label="outcome", **dataset)


# --- data inspect -------------------------------------------------------------------------------------


def test_data_inspect_describes_each_column_and_flags_suspicious_zeros(tmp_path):
    import json

    from click.testing import CliRunner

    from aimodel.cli import main

    path = write_rows(tmp_path / "d.csv", rows())
    config = write_config(tmp_path / "c.yaml", dict(TINY, seed=3, dataset={
        "name": "csv", "path": str(path), "columns": COLUMNS, "label": "outcome"}))
    result = CliRunner().invoke(main, ["data", "inspect", str(config), "--json"])
    assert result.exit_code == 0, result.output
    cols = {c["name"]: c for c in json.loads(result.output)["columns"]}
    assert cols["glucose"]["type"] == "numeric" and cols["glucose"]["missing"] == sum(i % 7 == 3 for i in range(80))
    assert cols["smoker"] == {"name": "smoker", "type": "categorical", "missing": sum(i % 11 == 5 for i in range(80)),
                              "distinct": 2}
    assert "zero_means_missing" in cols["bmi"]["note"] and cols["bmi"]["min"] == 0
    assert cols["bmi"]["min"] <= cols["bmi"]["median"] <= cols["bmi"]["max"]
    shown = CliRunner().invoke(main, ["data", "inspect", str(config)])
    assert shown.exit_code == 0 and "note: bmi:" in shown.output and "glucose" in shown.output


def test_data_inspect_gives_a_text_column_its_token_lengths(tmp_path):
    from aimodel.data.profile import profile_columns

    lines = [f'{i},"{" ".join(["word"] * (i % 10 + 1))}",{i % 2}' for i in range(40)]
    path = write_rows(tmp_path / "t.csv", lines, header="id,review,label")
    b = bundle(tmp_path, path=str(path), label="label", text_column="review")
    (col,) = profile_columns(b)
    assert col["type"] == "text" and col["tokens"]["p50"] in (5, 6) and col["sequence_length_95"] == 10
