package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"selection/selection"
)

// The campaign calendar's routes (selection/calendar.go).

func (s *Server) calendar(c *gin.Context) {
	now := time.Now()
	from, to := now.Add(-24*time.Hour), now.Add(30*24*time.Hour)
	for _, q := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := c.Query(q.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				s.fail(c, fmt.Errorf("%w: %s=%q is not an RFC 3339 time", errBadRequest, q.name, v))
				return
			}
			*q.t = t
		}
	}
	if !to.After(from) {
		s.fail(c, fmt.Errorf("%w: to must be after from", errBadRequest))
		return
	}
	slots, err := s.deps.Service.Pools.Calendar(c.Request.Context(), c.Query("market"), from, to)
	if err != nil {
		s.fail(c, err)
		return
	}
	if slots == nil {
		slots = []selection.CampaignSlot{}
	}
	c.JSON(http.StatusOK, gin.H{"slots": slots, "from": from.UTC(), "to": to.UTC()})
}

type slotRequest struct {
	Market   string `json:"market"`
	BasePool *int64 `json:"base_pool,omitempty,string"`
}

func (s *Server) putSlot(c *gin.Context) {
	var req slotRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.deps.Service.Pools.PutSlot(c.Request.Context(), c.Param("slot"), req.Market, req.BasePool)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) deleteSlot(c *gin.Context) {
	if err := s.deps.Service.Pools.DeleteSlot(c.Request.Context(), c.Param("slot")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type scheduleRequest struct {
	PoolID   int64     `json:"pool_id,string"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

func (s *Server) addSchedule(c *gin.Context) {
	var req scheduleRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.StartsAt.IsZero() || req.EndsAt.IsZero() {
		s.fail(c, fmt.Errorf("%w: starts_at and ends_at are required", errBadRequest))
		return
	}
	out, err := s.deps.Service.Pools.AddSchedule(c.Request.Context(), c.Param("slot"), req.PoolID, req.StartsAt, req.EndsAt, actor(c).Name)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) deleteSchedule(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		s.fail(c, fmt.Errorf("%w: schedule id %q is not an integer", errBadRequest, c.Param("id")))
		return
	}
	if err := s.deps.Service.Pools.DeleteSchedule(c.Request.Context(), c.Param("slot"), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// slotItems answers the items of the pool live in the slot now.
func (s *Server) slotItems(c *gin.Context) {
	live, err := s.deps.Service.Pools.LiveForSlot(c.Request.Context(), c.Param("slot"), time.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.itemsOf(c, live.PoolID, &live)
}
