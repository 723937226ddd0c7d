"""`group-etl serve`: Mixpanel's Engage query API and the group profile pages over HTTP."""
