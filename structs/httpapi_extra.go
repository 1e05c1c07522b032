package structs

// MethodCoordinateListDatacenters lists the WAN coordinates of every
// known datacenter; the reply is []*DatacenterMap and the request a
// DCSpecificRequest.
const MethodCoordinateListDatacenters = "Coordinate.ListDatacenters"
