"""A manager brings deals in from another CRM on the import page, in a real Chromium:
a file with a bad row is refused with the line named, the fixed file is imported, and the
deals appear in the list and in the CSV export."""

import pytest

from accounts.choices import Role
from pipeline.models import Deal
from tests.e2e.conftest import screenshot
from tests.e2e.test_flows import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
HEADER = (
    "external_id,name,company,owner,stage,amount,created_at,closed_at,"
    "expected_close_date,lead_source,product\n"
)


def test_manager_fixes_a_bad_row_and_imports_the_file(live_server, page, manager, rep, tmp_path):
    assert manager.role == Role.MANAGER
    good = "CRM-1,Initech renewal,Initech,rep,Won,4200,2026-01-05,2026-02-01,,Referral,\n"
    bad = tmp_path / "deals.csv"
    bad.write_text(HEADER + good + "CRM-2,Umbrella,Umbrella,rep,Proposal,12k,2026-01-05,,,,\n")
    log_in(page, live_server, "manager")
    page.click("nav >> text=Import")
    page.set_input_files("input[name=file]", str(bad))
    page.click("button:has-text('Import')")
    page.wait_for_load_state("networkidle")
    assert "Nothing was imported" in page.inner_text("#import-status")
    row = page.locator("table.import-errors tbody tr").first.inner_text()
    assert row.split("\t")[:2] == ["3", "amount"]
    screenshot(page, "import-refused-1280")
    assert not Deal.objects.exists()

    fixed = tmp_path / "deals-fixed.csv"
    fixed.write_text(HEADER + good + "CRM-2,Umbrella,Umbrella,rep,Proposal,12000,2026-01-05,,,,\n")
    page.click("text=Import another file")
    page.set_input_files("input[name=file]", str(fixed))
    page.click("button:has-text('Import')")
    page.wait_for_load_state("networkidle")
    assert "2 rows read: 2 created" in page.inner_text("#import-status")
    screenshot(page, "import-done-1280")

    page.goto(live_server.url + "/deals/")
    assert page.locator("text=Initech renewal").count() == 1
    with page.expect_download() as download:
        page.click("text=Export CSV")
    text = download.value.path().read_text()
    assert text.splitlines()[0] == HEADER.strip()
    assert "CRM-2,Umbrella,Umbrella,rep,Proposal,12000.00" in text
