//go:build !unix

package bench

import (
	"os"
	"time"
)

func procCPU(int) (time.Duration, bool) { return 0, false }

func selfCPU() time.Duration { return 0 }

func childUsage(*os.ProcessState) (time.Duration, int64, bool) { return 0, 0, false }

func procPeakRSS(int) (int64, bool) { return 0, false }

func machineCPU() (time.Duration, time.Duration, bool) { return 0, 0, false }
