"""Insight over interaction records: service-quality inspection, voice of customer and
complaint-risk prediction (tiers and the 高投诉风险 tag that prevention reads).

>>> from xiaobao import Workspace
>>> from xiaobao.insight import ingest_interactions, run_quality, quality_report, train_risk_model
>>> ws = Workspace("./ws")
>>> ingest_interactions(ws, "calls.csv").added
>>> run_quality(ws).per_second
>>> quality_report(ws, by="agent")[:5]
>>> train_risk_model(ws, "labels.csv").meta["metrics"]
"""
from xiaobao.insight.ingest import IngestReport, ingest_interactions
from xiaobao.insight.quality import Inspector, list_findings, quality_report, run_quality
from xiaobao.insight.risk_model import (RISK_TAG, RiskModel, risk_list, score_customers, train_risk_model,
                                        write_risk_tags)
from xiaobao.insight.rules import load_rules
from xiaobao.insight.synth import SynthParams, synth_interactions
from xiaobao.insight.voc import analyse_texts, train_classifiers, voice_of_customer

__all__ = [
    "IngestReport", "ingest_interactions", "Inspector", "list_findings", "quality_report", "run_quality",
    "RISK_TAG", "RiskModel", "risk_list", "score_customers", "train_risk_model", "write_risk_tags", "load_rules",
    "SynthParams", "synth_interactions", "analyse_texts", "train_classifiers", "voice_of_customer",
]
