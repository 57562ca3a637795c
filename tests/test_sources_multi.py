"""Several sources at once: a CRM for customers and reps, an ERP export for orders and payments.

Both number their records from 1, so ids are namespaced per source, and the ERP's references to CRM
customers and reps take the CRM's namespace: every reference resolves and nothing collides."""

from __future__ import annotations

import textwrap

from salespulse.loader import LoadOptions, load_landing
from salespulse.settings import SourceSettings
from salespulse.sources.registry import convert_source

from conftest import query

CRM_MAPPING = """
source: crm
defaults: {timezone: UTC, currency: CNY}
inputs:
  acc: {file: accounts.csv}
  usr: {file: users.csv}
tables:
  reps:
    from: usr
    columns:
      rep_id: id
      rep_name: name
      email: {const: "rep@example.com"}
      team_id: {const: "1"}
      team_name: {const: East}
      region: {const: east}
      role: {const: rep}
      hired_on: {const: "2023-01-01"}
      updated_at: {const: "2023-01-01T00:00:00Z"}
  customers:
    from: acc
    columns:
      customer_id: id
      customer_name: name
      segment: {const: smb}
      industry: {const: retail}
      region: {const: east}
      country: {const: CN}
      acquisition_channel: {const: organic}
      owner_rep_id: owner
      created_at: {const: "2023-02-01T00:00:00Z"}
      email: {const: "c@example.com"}
      phone: {const: "1"}
      updated_at: {const: "2023-02-01T00:00:00Z"}
      is_deleted: {const: false}
"""

ERP_MAPPING = """
source: erp
defaults: {timezone: UTC, currency: CNY}
inputs:
  so: {file: sales_orders.csv}
  rc: {file: receipts.csv}
tables:
  orders:
    from: so
    columns:
      order_id: no
      customer_id: account
      rep_id: seller
      signed_at: date
      amount: total
      cost: {const: null}
      status: {const: active}
      updated_at: date
      is_deleted: {const: false}
  payments:
    from: rc
    columns:
      payment_id: no
      order_id: order
      paid_at: date
      amount: amount
"""


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def test_two_sources_namespaced_and_cross_referenced(tmp_path):
    _write(tmp_path / "crm.yaml", CRM_MAPPING)
    _write(tmp_path / "erp.yaml", ERP_MAPPING)
    _write(tmp_path / "crm_in" / "accounts.csv", "id,name,owner\n1,Acme,1\n2,Beta,1\n")
    _write(tmp_path / "crm_in" / "users.csv", "id,name\n1,Li Lei\n")
    _write(tmp_path / "erp_in" / "sales_orders.csv",
           "no,account,seller,date,total\n1,2,1,2024-01-05T00:00:00Z,100\n2,1,1,2024-01-06T00:00:00Z,50\n")
    _write(tmp_path / "erp_in" / "receipts.csv", "no,order,date,amount\n1,1,2024-01-07T00:00:00Z,100\n")
    landing = tmp_path / "landing"
    crm = SourceSettings(name="crm", kind="mapping", input_dir=tmp_path / "crm_in", mapping=tmp_path / "crm.yaml",
                         namespace="crm")
    erp = SourceSettings(name="erp", kind="mapping", input_dir=tmp_path / "erp_in", mapping=tmp_path / "erp.yaml",
                         namespace="erp", reference_namespaces={"customer_id": "crm", "rep_id": "crm"})
    convert_source(crm, landing / "crm" / "d1")
    convert_source(erp, landing / "erp" / "d1")
    db = tmp_path / "build.duckdb"
    loads = load_landing(db, landing, options=LoadOptions(source_names=("crm", "erp")))
    assert {t: (r.rows_loaded, r.rows_quarantined) for t, r in loads.items() if r.files} == {
        "reps": (1, 0), "customers": (2, 0), "orders": (2, 0), "payments": (1, 0)}
    orders = query(db, "select order_id, customer_id, rep_id, _source_system from raw.orders order by 1")
    assert orders.values.tolist() == [["erp:1", "crm:2", "crm:1", "erp"], ["erp:2", "crm:1", "crm:1", "erp"]]
    # customer "1" and order "1" and payment "1" no longer collide; the payment names the ERP order
    assert query(db, "select payment_id, order_id from raw.payments").values.tolist() == [["erp:1", "erp:1"]]
    customers = query(db, "select customer_id, owner_rep_id, _source_system from raw.customers order by 1")
    assert customers.values.tolist() == [["crm:1", "crm:1", "crm"], ["crm:2", "crm:1", "crm"]]
