package gcfloor

var PercentFor = percentFor
