"""The Discord side: the bot (`client`), its command tree's error path (`tree`), people and roles
(`people`), and one extension package per feature (`tickets`: `/guarantee` and the ticket channels;
`escrow`: the buttons and the announcer). Adapters only: check, call one service, reply."""
