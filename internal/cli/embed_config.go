package cli

import (
	"fmt"

	"selection/embed"
)

// embedSettings choose the embedding model: the in-process USE-Lite (the default) or a remote
// provider through langchaingo. The sku_vectors column must have the model's dimension
// (checked at start-up).
var embedSettings struct {
	Provider, Model, BaseURL, APIKey string
	Dimension                        int
}

func init() {
	settings = append(settings,
		setting{"SELECTION_EMBED_PROVIDER", "local", "embedding model: local (USE-Lite in process), openai (any OpenAI-compatible /embeddings) or ollama",
			func(_ *Config, v string) error {
				switch v {
				case embed.ProviderLocal, embed.ProviderOpenAI, embed.ProviderOllama:
					embedSettings.Provider = v
					return nil
				}
				return fmt.Errorf("want local, openai or ollama")
			}},
		setting{"SELECTION_EMBED_MODEL", "", "the remote embedding model (provider default when empty)",
			func(_ *Config, v string) error { embedSettings.Model = v; return nil }},
		setting{"SELECTION_EMBED_BASE_URL", "", "the remote embedding server's base URL (provider default when empty)",
			func(_ *Config, v string) error { embedSettings.BaseURL = v; return nil }},
		setting{"SELECTION_EMBED_API_KEY", "", "the remote embedding server's API key",
			func(_ *Config, v string) error { embedSettings.APIKey = v; return nil }},
		setting{"SELECTION_EMBED_DIMENSION", "0", "the remote model's output dimension (0: known models' own, else asked once)",
			intSetting(0, 65536, func(v int) { embedSettings.Dimension = v })},
	)
}

// embedConfig is the embedder configuration from the settings.
func embedConfig(env *Env) embed.Config {
	return embed.Config{Provider: embedSettings.Provider, Model: embedSettings.Model, BaseURL: embedSettings.BaseURL,
		APIKey: embedSettings.APIKey, Dimension: embedSettings.Dimension, ModelDir: env.Config.ModelDir}
}
