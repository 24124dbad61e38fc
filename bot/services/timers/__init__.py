"""Timers (PRODUCT.md §5): reminders and escalations kept in the database, set where the state changes
(`schedule`), fired once by the worker process's `TimerWorker` (`firing`), each firing an outbox effect.
A timer never moves money."""
