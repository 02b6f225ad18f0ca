// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "agent-bridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "agent-bridge", targets: ["agent-bridge"])
    ],
    dependencies: [
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "BridgeCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "BridgeStore",
            dependencies: [
                "BridgeCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            resources: [.copy("migrations")]
        ),
        .target(
            name: "BridgeService",
            dependencies: [
                "BridgeCore",
                "BridgeStore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("catalog")]
        ),
        .target(
            name: "BridgeMCP",
            dependencies: [
                "BridgeCore",
                "BridgeService",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("schemas")]
        ),
        .target(
            name: "BridgeSupervisor",
            dependencies: [
                "BridgeCore",
                "BridgeStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "BridgeDrills",
            dependencies: [
                "BridgeCore",
                "BridgeStore",
                "BridgeService",
                "BridgeMCP",
                "BridgeSupervisor",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "BridgeBench",
            dependencies: [
                "BridgeCore",
                "BridgeStore",
                "BridgeService",
                "BridgeSupervisor",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "CStandardDescriptors"),
        .executableTarget(
            name: "agent-bridge",
            dependencies: [
                "CStandardDescriptors",
                "BridgeCore",
                "BridgeStore",
                "BridgeService",
                "BridgeMCP",
                "BridgeSupervisor",
                "BridgeDrills",
                "BridgeBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "BridgeTestSupport",
            dependencies: [
                "BridgeCore",
                "BridgeStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/BridgeTestSupport"
        ),
        .testTarget(
            name: "BridgeCoreTests",
            dependencies: ["BridgeCore", .product(name: "Yams", package: "Yams")]
        ),
        .testTarget(
            name: "BridgeServiceTests",
            dependencies: ["BridgeCore", "BridgeService", "BridgeTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "BridgeStoreTests",
            dependencies: ["BridgeCore", "BridgeStore", "BridgeTestSupport"]
        ),
        .testTarget(
            name: "BridgeSupervisorTests",
            dependencies: [
                "BridgeCore", "BridgeStore", "BridgeService", "BridgeSupervisor", "BridgeTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "BridgeDrillsTests",
            dependencies: [
                "BridgeCore", "BridgeStore", "BridgeService", "BridgeDrills", "BridgeTestSupport",
                .product(name: "Logging", package: "swift-log"), .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "BridgeBenchTests",
            dependencies: [
                "BridgeBench", "BridgeStore", "BridgeTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "AgentBridgeCLITests",
            dependencies: [
                "BridgeCore", "BridgeStore", "BridgeSupervisor", "BridgeTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "BridgeMCPTests",
            dependencies: [
                "BridgeCore", "BridgeStore", "BridgeService", "BridgeMCP", "BridgeSupervisor", "BridgeTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
