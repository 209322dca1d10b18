import SecretdCLI

// The agent: /dev/uv only (docs/design.md, "Products and targets").
CLI.main(edition: .agent)
