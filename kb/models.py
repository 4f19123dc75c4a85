"""Knowledge-base articles and their pgvector embeddings (tenant schema). Models come later.

The `vector` type is created once in the public schema (accounts migration 0002) and every
tenant schema's search path includes public, so tenant tables can declare vector columns.
"""
