-- Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d).
-- pgvector for vector search; the app's migrations may create it too (IF NOT EXISTS).
CREATE EXTENSION IF NOT EXISTS vector;
