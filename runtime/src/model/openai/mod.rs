//! OpenAI models on async-openai.
