"""Classification, routing, drafts and the AI call log (tenant schema). Models come later."""
