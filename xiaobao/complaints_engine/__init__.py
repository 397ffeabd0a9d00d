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

Modules are imported on use; this package file stays empty of imports so each part loads
only what it needs.
"""
