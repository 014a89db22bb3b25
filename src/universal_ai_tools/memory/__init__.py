"""Long-term memory: short facts about one user, recalled as context for their chats.

A memory belongs to one user of one organization; nobody else can see, search, edit,
delete or have it used as context. `service.MemoryService` is the only code that touches
the `memories` table; other features call it (for instance `relevant` and
`remember_from_turn` around a chat turn) and never read the table themselves.
"""
