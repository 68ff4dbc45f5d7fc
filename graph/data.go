package graph

import (
	"bytes"
	"sync"
)

// dataBuffers are the buffers the data of query and mutation responses are
// written into, kept for the next response once a transport that gives them
// back (ReleaseData) has written one: the data of a page of users is tens
// of kilobytes, which a new buffer reaches by growing a dozen times.
var dataBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxKeptData is the largest buffer kept for another response.
const maxKeptData = 1 << 20

// dataBuffer returns an empty buffer for a response's data.
func dataBuffer() *bytes.Buffer {
	return bytes.NewBuffer((*dataBuffers.Get().(*[]byte))[:0])
}

// ReleaseData gives back the buffer of a response's data once it is
// written: nothing may read data afterwards.
func ReleaseData(data []byte) {
	if cap(data) == 0 || cap(data) > maxKeptData {
		return
	}
	data = data[:0]
	dataBuffers.Put(&data)
}
