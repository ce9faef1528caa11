// Package tagger owns tag definitions and the in-memory roaring64 index over SKU ordinals
// (tags, categorical attributes, BSI numeric columns), its persistence in tag_bitmaps, and
// auto-tagging from vector neighbourhoods.
package tagger
