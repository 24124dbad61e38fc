"""The Discord side of closing a ticket: reading the channel's history into a transcript (`_history`)
and downloading its attachments (`_downloads`).

No cog yet: the `/guarantee close` command, the Close button and the closing effects (posting the
files, the DMs, deleting or locking the channel) come with the effects outbox; they will call
`_history.read_transcript` and `bot.services.closing.storage.save_transcript` with a
`_downloads.AiohttpAttachmentFetcher`.
"""
