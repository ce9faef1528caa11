package cli

import (
	"selection/embed"
)

// embedConfig is the embedder configuration from the settings.
func embedConfig(env *Env) embed.Config {
	e := env.Config.Embed
	return embed.Config{Provider: e.Provider, Model: e.Model, BaseURL: e.BaseURL, APIKey: e.APIKey, Dimension: e.Dimension,
		ModelDir: env.Config.ModelDir, Kernel: env.Config.Kernel}
}
