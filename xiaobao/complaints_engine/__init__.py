"""Complaints engine: intake, screening, tags, rings; routing, SLA, validity and evidence.

Intake and screening (public functions; see docs/complaints.md)::

    import xiaobao
    xiaobao.ingest(ws, ["day.csv"])                  # complaints_engine.ingest.ingest
    xiaobao.screen(ws, since="2026-10-01")            # complaints_engine.screen.screen
    from xiaobao.complaints_engine import store, rings, synth
    store.list_complaints(ws, tag="疑似代理投诉", tier="high")
    store.get_complaint(ws, "C-1") ; store.add_tags(ws, ["人工复核"], complaint_id="C-1")
    rings.list_rings(ws) ; rings.show_ring(ws, "R-3") ; rings.promote(ws, "R-3", name="和顺法务")
    synth.synth_complaints("day.jsonl", n=5000, rings=20, seed=7)

Handling (see docs/complaints.md, "Handling")::

    from xiaobao.complaints_engine import cases, evidence, routing, sla, validity
    routing.check_rules("rules.yaml") ; routing.route_pending(ws, "rules.yaml", dry_run=True)
    sla.tick(ws) ; sla.list_due(ws, within="2d") ; sla.extend(ws, "C-1", approver="王总", reason="情况复杂")
    cases.record_action(ws, "C-1", "contacted_customer", actor="李四") ; cases.list_cases(ws, overdue=True)
    validity.check_validity(ws, "C-1") ; evidence.write_evidence_pack(ws, "C-1", "packs", "html")

Modules are imported on use; this package file stays empty of imports so each part loads
only what it needs.
"""
