"""`kam inspect FILE`: how a file will be read, said before any run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from cli import main
from engine.project.load import load_project
from engine.tools.inspect import inspect_file, text_lines

ROOT = Path(__file__).resolve().parent.parent


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(text, "utf-8")
    return path


def test_each_column_says_its_metric_or_why_none(tmp_path):
    path = _csv(tmp_path, "account_id,Выручка,revenue_curent,status,nps\n"
                          "A-1,100,90,active,5\nA-2,200,210,Активный,11\nA-3,300,,lost,\n")
    ins = inspect_file(load_project(ROOT), path)
    cols = {c.name: c for c in ins.columns}
    assert cols["account_id"].metric == "account_id" and cols["account_id"].samples == ["A-1", "A-2", "A-3"]
    assert cols["nps"].samples == [5]  # 11 does not read (above 10); an empty cell is no sample
    assert cols["revenue_curent"].metric is None
    assert "did you mean 'revenue_current'" in cols["revenue_curent"].why_not
    assert (cols["Выручка"].letter, cols["revenue_curent"].letter) == ("B", "C")
    assert ins.uncovered == []
    assert (ins.read, ins.accepted, [r["row"] for r in ins.rejected]) == (3, 2, [3])
    assert ins.rejected[0]["reason"] == ("status: 'Активный' is not one of active, lost; "
                                         "nps: 11 is above the maximum 10")
    text = "\n".join(text_lines(ins))
    assert "export.csv: header on row 1" in text
    assert "Records: 3; 2 would be evaluated, 1 rejected" in text
    assert "  row 3 (A-2): status: 'Активный' is not one of active, lost" in text


def test_a_missing_required_column_is_named_and_every_row_counted(tmp_path):
    path = _csv(tmp_path, "Клиент,status\nA-1,active\nA-2,lost\n")
    ins = inspect_file(load_project(ROOT), path)
    assert ins.uncovered == ["account_id"]
    assert ins.accepted == 0 and len(ins.rejected) == 2
    assert ins.reasons == {"account_id: required value is missing": 2}
    assert "Required metrics no column covers: account_id" in "\n".join(text_lines(ins))


def test_columns_mapped_in_kam_yaml_say_so_and_json_is_for_scripts(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for sub in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / sub, project / sub)  # a link out of the project would be refused
    (project / "kam.yaml").write_text("kind: project\nname: crm\ncolumns:\n  ID клиента: account_id\n", "utf-8")
    path = _csv(tmp_path, "ID клиента;Статус\nA-1;active\n")
    result = CliRunner().invoke(main, ["inspect", str(path), "--project", str(project), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    first = report["columns"][0]
    assert (first["metric"], first["mapped_by"], first["samples"]) == ("account_id", "columns", ["A-1"])
    assert report["columns"][1]["metric"] is None
    assert (report["records"], report["would_evaluate"], report["would_reject"]) == (1, 1, 0)
    text = CliRunner().invoke(main, ["inspect", str(path), "--project", str(project)]).output
    assert "→ account_id (kam.yaml columns:): 'A-1'" in text


def test_a_crm_workbook_title_merged_header_percent_cells_and_totals(tmp_path):
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Клиенты"
    ws.append(["Выгрузка из CRM на 23.11.2026"])
    ws.append([])
    ws.append(["account_id", "name", "status", "Выручка, руб.", None, "margin_pct"])
    ws.append([None, None, None, "текущий период", "прошлый период", None])
    ws.merge_cells("D3:E3")
    ws.append(["A-1", "Альфа", "active", 100, 120, 0.2])
    ws.append(["A-2", "Бета", "active", 300, 290, 0.25])
    ws.append(["Итого", None, None, 400, 410, None])
    for (cell,) in ws.iter_rows(min_row=5, max_row=6, min_col=6, max_col=6):
        cell.number_format = "0%"
    path = tmp_path / "crm.xlsx"
    wb.save(path)
    project = tmp_path / "project"
    for sub in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / sub, project / sub)
    (project / "kam.yaml").write_text('kind: project\nname: crm\ncolumns:\n'
                                      '  "Выручка, руб. / текущий период": revenue_current\n'
                                      '  "Выручка, руб. / прошлый период": revenue_previous\n', "utf-8")
    ins = inspect_file(load_project(project), path)
    assert (ins.sheet, ins.header_row) == ("Клиенты", 3)
    cols = {c.name: c for c in ins.columns}
    assert cols["Выручка, руб. / текущий период"].metric == "revenue_current"
    assert cols["Выручка, руб. / текущий период"].samples == [100, 300]  # not the totals' 400
    assert cols["margin_pct"].samples == [20, 25]  # percent-formatted cells read as percent
    assert (ins.read, ins.accepted) == (3, 2)
    assert [(r["row"], r["reason"]) for r in ins.totals_rows] == [(7, "totals row ('Итого' in account_id)")]
    text = "\n".join(text_lines(ins))
    assert "crm.xlsx: sheet 'Клиенты', header on row 3 (rows 1–2 above it skipped)" in text
