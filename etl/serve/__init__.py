"""Serving: what analysts read (reports, the filter grammar, cohorts, exports, the
activity feed, status). Reads the tables the model builds."""
