"""Insight over interaction records: service-quality inspection, voice of customer and
complaint-risk prediction (tiers and the 高投诉风险 tag that prevention reads)."""
