"""Closing: what a closed ticket leaves behind, and how long it stays (PRODUCT.md §5).

Owns: the transcript of a ticket channel as plain data (`transcript`), its header read from the
database (`header`), its rendering to a self-contained HTML page and a plain-text twin
(`render`), saving both with the attachments under `<DATA_DIR>/transcripts/<guild>/<order>/`
within the size limits, and the HTML page's SHA-256 (`storage`), and the retention purge of
closed tickets' records (`retention`).

Never: imports discord or aiohttp (the channel's history is read, and attachments are
downloaded, by `cogs.closing` through the `storage.AttachmentFetcher` port), changes an escrow's
state, or acts on Discord: posting the files, the DMs and deleting or locking the channel belong
to the closing flow's effects.
"""
