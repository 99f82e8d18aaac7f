"""The calendar: periods (month, quarter, year), the bounds of the days the product accepts,
days in the project's TIME_ZONE and durations. Both `pipeline` and `metrics` import it; it
imports neither."""
